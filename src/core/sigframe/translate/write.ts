/**
 * Step 3 of a translation: the area for B. The sw bytes are written for B's style (kernel:
 * xstate_size = B's user_size, what B's kernel writes; criu: trimmed to the highest component in
 * use), the XSAVE header holds the moved components' xstate_bv in the standard form, each moved
 * component sits at B's offset and magic2 right after xstate_size.
 */
import { UsageError } from "../../errors.ts";
import { bit, bitsOf, hasBit } from "../../hex.ts";
import { FP_XSTATE_MAGIC2, MASK_FPSSE, MIN_XSTATE_SIZE } from "../../xsave/components.ts";
import type { XsaveLayout } from "../../xsave/layout.ts";
import { decodeFpstate, encodeFpstate, type Fpstate, type XsaveHeader, xsaveSwBytes } from "../fpstate.ts";
import type { ComponentPlan } from "./plan.ts";
import type { AreaSizes, MxcsrReport, TranslateStyle } from "./types.ts";

export interface WrittenArea {
  /** The area as written and decoded again at B's layout. */
  fpstate: Fpstate;
  bytes: Uint8Array;
  /** Area bytes B needs for this style: xstate_size + 4. */
  needed: number;
  notes: string[];
}

export function sizesOf(fp: Fpstate): AreaSizes {
  return {
    xstateSize: fp.sw.xstateSize,
    extendedSize: fp.sw.extendedSize,
    xfeatures: fp.sw.xfeatures,
    xstateBv: fp.header?.xstateBv ?? 0n,
    size: fp.size,
  };
}

/**
 * Writes the planned area for `to` in `areaSize` bytes (default: exactly what the style needs).
 * Throws a usage error when the area is too small for B's xstate_size + magic2.
 */
export function writeArea(
  src: Fpstate,
  header: XsaveHeader,
  plan: ComponentPlan,
  mx: MxcsrReport,
  to: XsaveLayout,
  style: TranslateStyle,
  areaSize: number | undefined,
): WrittenArea {
  const { moved, bHas, carried } = plan;
  const notes: string[] = [];
  let xstateBv = MASK_FPSSE;
  for (const b of moved.keys()) if (hasBit(header.xstateBv, b)) xstateBv |= bit(b);
  let xstateSize: number;
  let xfeatures: bigint;
  if (style === "kernel") {
    xstateSize = to.userSize;
    xfeatures = to.userFeatures & (carried | MASK_FPSSE);
  } else {
    xstateSize = MIN_XSTATE_SIZE;
    for (const b of bitsOf(xstateBv)) {
      const c = bHas.get(b);
      if (c) xstateSize = Math.max(xstateSize, c.offset + c.size);
    }
    xfeatures = xstateBv;
  }
  const needed = xstateSize + 4;
  const size = areaSize ?? needed;
  if (size < needed) {
    throw new UsageError(
      `${to.profile.name}'s ${style}-style area needs ${needed} bytes (xstate_size ${xstateSize} + magic2) but only ${size} are available`,
      { path: "fpstate" },
    );
  }
  const legacy = { ...src.legacy, mxcsr: BigInt(mx.written) };
  // Bytes of the legacy region no field names (reserved 416..463) stay; stale bytes beyond are A's.
  const keptExtra = src.extra.filter((r) => r.offset + r.bytes.length <= 464);
  const droppedExtra = src.extra.filter((r) => r.offset + r.bytes.length > 464);
  if (droppedExtra.length) {
    const n = droppedExtra.reduce((a, r) => a + r.bytes.length, 0);
    notes.push(
      `${n} non-zero byte${n === 1 ? "" : "s"} outside every field of the source area (gaps, stale data past magic2) are not carried`,
    );
  }
  const out: Fpstate = {
    size,
    legacy,
    sw: xsaveSwBytes(xstateSize, xfeatures),
    header: { xstateBv, xcompBv: 0n, reserved: [0n, 0n, 0n, 0n, 0n, 0n] },
    components: [...moved].map(([b, regs]) => {
      const c = bHas.get(b)!;
      return { bit: b, name: c.name, offset: c.offset, size: c.size, registers: { ...regs } };
    }),
    magic2: FP_XSTATE_MAGIC2,
    extra: keptExtra,
  };
  const bytes = encodeFpstate(out);
  return { fpstate: decodeFpstate(bytes, { layout: to }), bytes, needed, notes };
}
