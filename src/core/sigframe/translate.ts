/**
 * Moving XSAVE state from one CPU's standard-format layout to another's, component by component
 * (the translation the kernel developers suggested in the 2026 revert thread: userspace converts
 * the buffer from CPU A's format to CPU B's before it restores on B; CRIU does the same per
 * component from its images, criu/arch/x86/crtools.c restore_fpu()).
 *
 * The legacy region (x87, SSE, MXCSR) is the same on every CPU and is copied as is. Each extended
 * component the source frame carries and the receiving task has moves to B's offset
 * (CPUID(0xD,i).EBX on B); components B's task lacks are dropped; components B has that the
 * frame does not carry are left init (XSTATE_BV clear). The sw bytes and magic2 are rewritten for
 * B: kernel style (xstate_size = B's user_size, what the kernel itself would write on B) or CRIU
 * style (xstate_size trimmed to the highest component in use).
 *
 * Every translation is checked by decoding the result at B's layout; a register that does not read
 * back as its source value is an error, never a silent output.
 */
import { InvalidDataError, TruncatedInputError, UsageError } from "../errors.ts";
import { bit, bitsOf, hasBit, hex } from "../hex.ts";
import { type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import { predict } from "../sigreturn/predict.ts";
import type { Policy, PredictInput, Prediction } from "../sigreturn/types.ts";
import {
  componentInfo,
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2,
  MASK_FPSSE,
  MIN_XSTATE_SIZE,
  XFEATURE,
} from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { checkFpstate } from "./check.ts";
import { LEGACY_FIELDS } from "./fields.ts";
import { componentSlots, decodeFpstate, encodeFpstate, type Fpstate, xsaveSwBytes } from "./fpstate.ts";
import { encodeSigframeImage, type SigframeImage } from "./frame.ts";

export type TranslateStyle = "kernel" | "criu";

export interface TranslateOptions {
  /** CPU A: the layout the input was written at (its standard offsets locate the components). */
  from: XsaveLayout;
  /** The receiving task on CPU B (user_size, user features, offsets). */
  to: XsaveLayout;
  /** How the sw bytes are written for B; default kernel. */
  style?: TranslateStyle;
  /**
   * B's MXCSR_MASK: a measured raw value, or a resolved one (mxcsrMaskOf(profile): measured or
   * estimated from CPUID); absent → assumed 0xffff (an x86-64 CPU with DAZ).
   */
  mxcsrMask?: MxcsrMaskInput;
  /** Clear MXCSR bits outside the mask instead of only reporting them. */
  fixMxcsr?: boolean;
  /**
   * Bytes of the output area; at least xstate_size + 4 for B. Default: exactly that. A frame that
   * must keep its size passes the input area's size.
   */
  areaSize?: number;
}

export type ComponentAction = "kept" | "moved" | "init" | "dropped";
/** What the source frame holds for a component: state, the init state, or nothing at all. */
export type SourceState = "data" | "init" | "absent";

export interface ComponentMove {
  bit: number;
  name: string;
  /**
   * kept: x87/SSE, the same on every CPU; moved: state carried to B's offset; init: B's task has
   * it and it is left init (XSTATE_BV clear); dropped: B's task lacks it.
   */
  action: ComponentAction;
  source: SourceState;
  /** Where A's frame holds it. */
  from?: { offset: number; size: number };
  /** Where B's layout puts it. */
  to?: { offset: number; size: number };
  /** Dropped although its registers were not all zero (the init value): real loss. */
  lost: boolean;
  note?: string;
}

export interface MxcsrReport {
  value: number;
  mask: number;
  /** The mask is not measured on B (estimated from CPUID or assumed). */
  estimated: boolean;
  /** Where the mask comes from, for messages. */
  basis: string;
  /** Bits outside the mask: FXRSTOR/XRSTOR raise #GP on B (SIGSEGV). */
  unsupported: number;
  /** Bits cleared by fixMxcsr. */
  fixed: boolean;
  /** The value written. */
  written: number;
}

export interface AreaSizes {
  xstateSize: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateBv: bigint;
  /** Bytes of the area (input: from the fpstate to the end of the input). */
  size: number;
}

export interface FpstateTranslation {
  fpstate: Fpstate;
  bytes: Uint8Array;
  style: TranslateStyle;
  components: ComponentMove[];
  /** Names of dropped components whose state was not init. */
  lost: string[];
  /** Names of every dropped component. */
  dropped: string[];
  mxcsr: MxcsrReport;
  source: AreaSizes;
  result: AreaSizes;
  /** Area bytes B needs for this style: xstate_size + 4. */
  needed: number;
  /** Facts about the input or the output a user should know. */
  notes: string[];
}

function sizesOf(fp: Fpstate): AreaSizes {
  return {
    xstateSize: fp.sw.xstateSize,
    extendedSize: fp.sw.extendedSize,
    xfeatures: fp.sw.xfeatures,
    xstateBv: fp.header?.xstateBv ?? 0n,
    size: fp.size,
  };
}

function allZero(regs: Record<string, bigint>): boolean {
  return Object.values(regs).every((v) => v === 0n);
}

/** User components (bit ≥ 2) CPU A can hold: its XCR0 as Linux sets it. */
function heldBy(layout: XsaveLayout) {
  return layout.components.filter((c) => !c.supervisor && c.bit >= 2 && c.inXcr0 && c.size > 0);
}

/** Translates one FPU area written at `from`'s layout to `to`'s. Throws on input it cannot carry. */
export function translateFpstate(src: Fpstate, opts: TranslateOptions): FpstateTranslation {
  const { from, to } = opts;
  const style = opts.style ?? "kernel";
  const notes: string[] = [];
  if (!from.xsave)
    throw new UsageError(`${from.profile.name} does not use XSAVE: its frames have no layout to translate`, {
      input: "--from",
    });
  if (!to.xsave)
    throw new UsageError(
      `${to.profile.name} does not use XSAVE: its frames carry x87/SSE only, there is no layout to translate to`,
      { input: "--to" },
    );
  if (src.sw.magic1 !== FP_XSTATE_MAGIC1) {
    throw new InvalidDataError(
      `magic1 is ${hex(src.sw.magic1)}, not ${hex(FP_XSTATE_MAGIC1)}: a legacy FXSAVE image, which has the same layout on every CPU (nothing to translate)`,
      { path: "fpstate/sw_bytes/magic1" },
    );
  }
  const header = src.header;
  if (!header) {
    throw new TruncatedInputError("the area ends before the XSAVE header (576 bytes)", {
      offset: src.size,
      path: "fpstate/header",
    });
  }
  const aName = from.profile.name;
  const bName = to.profile.name;
  const outsideA = header.xstateBv & ~from.xcr0;
  if (outsideA) {
    throw new InvalidDataError(
      `xstate_bv ${hex(header.xstateBv)} sets bit${bitsOf(outsideA).length > 1 ? "s" : ""} ${bitsOf(outsideA).join(", ")}, outside ${aName}'s XCR0 ${hex(from.xcr0)}: the frame was not written on that CPU (wrong --from?)`,
      { path: "fpstate/header/xstate_bv" },
    );
  }
  if (src.sw.xstateSize > from.maxUserSize) {
    throw new InvalidDataError(
      `xstate_size ${src.sw.xstateSize} is larger than any frame ${aName} writes (${from.maxUserSize}): the frame was not written on that CPU (wrong --from?)`,
      { path: "fpstate/sw_bytes/xstate_size" },
    );
  }
  const compacted = ((header.xcompBv >> 63n) & 1n) === 1n;
  if (compacted)
    notes.push(
      `the source is in the compacted form (xcomp_bv ${hex(header.xcompBv)}): its components are read at compacted offsets and written in the standard form`,
    );
  else if (header.xcompBv !== 0n)
    throw new InvalidDataError(
      `xcomp_bv ${hex(header.xcompBv)} is neither 0 nor a compacted-form mask: XRSTOR raises #GP on it, on any CPU`,
      { path: "fpstate/header/xcomp_bv" },
    );
  for (const f of checkFpstate(src, { layout: from }))
    if (f.severity === "error" && !f.code.startsWith("mxcsr")) notes.push(`source: ${f.message}`);
  if (header.reserved.some((r) => r !== 0n))
    notes.push("the source header's reserved bytes (528..575) are not zero; they are written as zero");

  // Source components: what A's frame carries (sw.xfeatures) and whether it holds state.
  const slotsA = new Map(componentSlots(from, header).map((s) => [s.bit, s]));
  const decodedA = new Map(src.components.map((c) => [c.bit, c]));
  const aHas = heldBy(from);
  const bHas = new Map(
    to.components.filter((c) => c.enabled && c.bit >= 2 && c.size > 0).map((c) => [c.bit, c]),
  );
  const sourceOf = (b: number): SourceState => {
    if (!hasBit(src.sw.xfeatures, b) && !hasBit(header.xstateBv, b)) return "absent";
    return hasBit(src.sw.xfeatures, b) && hasBit(header.xstateBv, b) ? "data" : "init";
  };
  const components: ComponentMove[] = [
    {
      bit: 0,
      name: "x87",
      action: "kept",
      source: "data",
      from: { offset: 0, size: 160 },
      to: { offset: 0, size: 160 },
      lost: false,
    },
    {
      bit: 1,
      name: "SSE",
      action: "kept",
      source: "data",
      from: { offset: 160, size: 256 },
      to: { offset: 160, size: 256 },
      lost: false,
    },
  ];
  const moved = new Map<number, Record<string, bigint>>();
  let carried = 0n;
  const bits = new Set<number>([...aHas.map((c) => c.bit), ...bHas.keys()]);
  for (const b of [...bits].sort((x, y) => x - y)) {
    const name = componentInfo(b).name;
    const inA = aHas.some((c) => c.bit === b);
    const state: SourceState = inA ? sourceOf(b) : "absent";
    const slot = slotsA.get(b);
    const cb = bHas.get(b);
    const m: ComponentMove = { bit: b, name, action: "init", source: state, lost: false };
    if (state !== "absent" && slot) m.from = { offset: slot.offset, size: slot.size };
    if (cb) m.to = { offset: cb.offset, size: cb.size };
    if (state === "absent") {
      if (!cb) continue;
      m.note = inA ? "not in the source frame's xfeatures" : `${aName} has no ${name}`;
      if (b === XFEATURE.PKRU)
        m.note += `; sigreturn on ${bName} sets PKRU to 0 (every key open), not Linux's default 0x55555554`;
      components.push(m);
      continue;
    }
    carried |= bit(b);
    let regs: Record<string, bigint> | undefined;
    if (state === "data") {
      const d = decodedA.get(b);
      if (!d) {
        const end = slot ? slot.offset + slot.size : src.size;
        const hint =
          slot && end > src.sw.xstateSize + 4
            ? ` (past the frame's own xstate_size ${src.sw.xstateSize}: was it written on another CPU? check --from)`
            : "";
        throw new TruncatedInputError(
          `xstate_bv marks ${name} as holding state, but the input ends at ${src.size}, before its bytes ${slot?.offset ?? "?"}..${end - 1}${hint}`,
          { offset: end, path: `fpstate/${name}` },
        );
      }
      regs = d.registers;
      if (slot && slot.offset + slot.size > src.sw.xstateSize)
        notes.push(
          `source: ${name} (${slot.offset}..${slot.offset + slot.size - 1}) lies past xstate_size ${src.sw.xstateSize}; it is carried as XRSTOR on ${aName} would read it`,
        );
    } else if (hasBit(header.xstateBv, b)) {
      m.note = `xstate_bv is set but sw.xfeatures lacks it: sigreturn on ${aName} restores it as init`;
    }
    const nonInit = regs !== undefined && !allZero(regs);
    if (!cb) {
      m.action = "dropped";
      m.lost = nonInit;
      const why =
        b === XFEATURE.XTILEDATA && hasBit(to.xcr0, b)
          ? `${bName}'s task has not enabled AMX tile data (--amx)`
          : `${bName}'s task has no ${name}`;
      m.note = m.note ? `${why}; ${m.note}` : why;
      if (nonInit && b === XFEATURE.PKRU && regs!.pkru === 0x55555554n)
        m.note +=
          " (PKRU holds Linux's default 0x55555554: a task that never used protection keys loses no key it set)";
      components.push(m);
      continue;
    }
    if (state === "data") {
      m.action = "moved";
      moved.set(b, regs!);
    }
    components.push(m);
  }

  // MXCSR against B's MXCSR_MASK.
  const maskInfo = resolveMxcsrMask(opts.mxcsrMask);
  const mxcsr = Number(src.legacy.mxcsr) >>> 0;
  const unsupported = (mxcsr & ~maskInfo.value) >>> 0;
  const fix = unsupported !== 0 && opts.fixMxcsr === true;
  const written = fix ? (mxcsr & maskInfo.value) >>> 0 : mxcsr;
  const mx: MxcsrReport = {
    value: mxcsr,
    mask: maskInfo.value,
    estimated: maskInfo.estimated,
    basis: maskInfo.basis,
    unsupported,
    fixed: fix,
    written,
  };

  // The sw bytes and the size for B.
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
  const size = opts.areaSize ?? needed;
  if (size < needed) {
    throw new UsageError(
      `${bName}'s ${style}-style area needs ${needed} bytes (xstate_size ${xstateSize} + magic2) but only ${size} are available`,
      { path: "fpstate" },
    );
  }
  const legacy = { ...src.legacy, mxcsr: BigInt(written) };
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
  const fpstate = decodeFpstate(bytes, { layout: to });
  const dropped = components.filter((c) => c.action === "dropped");
  const t: FpstateTranslation = {
    fpstate,
    bytes,
    style,
    components,
    lost: dropped.filter((c) => c.lost).map((c) => c.name),
    dropped: dropped.map((c) => c.name),
    mxcsr: mx,
    source: sizesOf(src),
    result: sizesOf(fpstate),
    needed,
    notes,
  };
  verifyTranslation(src, t, to);
  return t;
}

/**
 * Decodes the result at B's layout and checks that every carried register (legacy region and each
 * moved component) equals its source value and that the sw bytes, header and magic2 are B's.
 * Throws InvalidDataError naming the first register that differs.
 */
export function verifyTranslation(src: Fpstate, t: FpstateTranslation, to: XsaveLayout): void {
  const back = decodeFpstate(t.bytes, { layout: to });
  const fail = (path: string, what: string): never => {
    throw new InvalidDataError(`translation check failed: ${what}; nothing was written`, { path });
  };
  for (const [name] of LEGACY_FIELDS) {
    const want = name === "mxcsr" ? BigInt(t.mxcsr.written) : src.legacy[name as keyof typeof src.legacy];
    const got = back.legacy[name as keyof typeof back.legacy];
    if (got !== want) fail(`fpstate/legacy/${name}`, `${name} reads back ${hex(got)}, not ${hex(want)}`);
  }
  const byBit = new Map(back.components.map((c) => [c.bit, c]));
  const srcBy = new Map(src.components.map((c) => [c.bit, c]));
  for (const m of t.components) {
    if (m.action !== "moved") continue;
    const c = byBit.get(m.bit);
    const s = srcBy.get(m.bit)!;
    if (!c || c.offset !== m.to!.offset)
      fail(`fpstate/${m.name}`, `${m.name} is not at ${to.profile.name}'s offset ${m.to!.offset}`);
    for (const [reg, v] of Object.entries(s.registers)) {
      if (c!.registers[reg] !== v)
        fail(
          `fpstate/${m.name}/${reg}`,
          `${reg} reads back ${hex(c!.registers[reg] ?? 0n)} at ${to.profile.name}'s layout, not ${hex(v)}`,
        );
    }
    if (!hasBit(back.header!.xstateBv, m.bit))
      fail("fpstate/header/xstate_bv", `xstate_bv lacks moved ${m.name}`);
  }
  if (back.sw.magic1 !== FP_XSTATE_MAGIC1) fail("fpstate/sw_bytes/magic1", "magic1 is missing");
  if (back.magic2 !== FP_XSTATE_MAGIC2)
    fail("fpstate/magic2", `magic2 is not at xstate_size ${back.sw.xstateSize}`);
  if (back.sw.extendedSize !== back.sw.xstateSize + 4)
    fail("fpstate/sw_bytes/extended_size", "extended_size ≠ xstate_size + 4");
  if (back.sw.xstateSize > to.userSize)
    fail(
      "fpstate/sw_bytes/xstate_size",
      `xstate_size ${back.sw.xstateSize} exceeds ${to.profile.name}'s user_size ${to.userSize}`,
    );
  if (back.header!.xcompBv !== 0n) fail("fpstate/header/xcomp_bv", "xcomp_bv is not 0");
  if (back.header!.xstateBv & ~to.xcr0)
    fail("fpstate/header/xstate_bv", `xstate_bv sets bits outside ${to.profile.name}'s XCR0`);
}

/** Where the frame moved, for a whole frame whose FPU area changed size. */
export interface Relocation {
  /** Offset of the FPU area in the image (unchanged). */
  fpstateOffset: number;
  /** Address of the image's first byte, before and after. */
  base: { from: bigint; to: bigint };
  fpstate: { from: bigint; to: bigint };
  /** One past the image's last byte, before and after. */
  end: { from: bigint; to: bigint };
  /** to − from (bytes; negative = lower addresses). */
  delta: bigint;
  /** The frame kept its addresses (same start and fpstate pointer). */
  inPlace: boolean;
}

export interface FrameTranslation {
  image: SigframeImage;
  bytes: Uint8Array;
  fpstate: FpstateTranslation;
  relocation: Relocation;
}

export interface TranslateFrameOptions extends TranslateOptions {
  /** Write B's area inside A's bytes so the frame keeps its size and addresses. */
  keepSize?: boolean;
}

/**
 * Translates a whole rt_sigframe (or SROP payload) image. Without keepSize the area takes B's size:
 * a smaller one stays at its address and the frame ends earlier; a larger one is laid out as the
 * kernel would place it under the same top of stack: the end stays, the FPU area is re-aligned to
 * 64 bytes below it and the frame follows it down, and the fpstate pointer names the new place.
 * With keepSize the area is written in place and the frame keeps its length (refused when B's
 * area does not fit in A's).
 */
export function translateSigframeImage(img: SigframeImage, opts: TranslateFrameOptions): FrameTranslation {
  const fp = img.fpstate;
  const off = img.fpstateOffset;
  if (img.frame.mcontext.fpstate === 0n)
    throw new InvalidDataError("the frame's fpstate pointer is NULL: it carries no FPU state to translate", {
      path: "frame/uc/uc_mcontext/fpstate",
    });
  if (!fp || off === undefined)
    throw new InvalidDataError(
      `the frame's fpstate ${hex(img.frame.mcontext.fpstate)} is not inside the input (give the address of the first byte)`,
      { path: "frame/uc/uc_mcontext/fpstate" },
    );
  const topts: TranslateOptions = { ...opts };
  if (opts.keepSize) topts.areaSize = fp.size;
  const t = translateFpstate(fp, topts);
  const oldFp = img.frame.mcontext.fpstate;
  const oldEnd = oldFp + BigInt(fp.size);
  // A smaller area stays where it is (it ends earlier); a larger one grows downward under the
  // same end, as the kernel would have placed it below the same top of stack.
  const newFp = t.fpstate.size <= fp.size ? oldFp : (oldEnd - BigInt(t.fpstate.size)) & ~63n;
  const delta = newFp - oldFp;
  const image: SigframeImage = {
    ...img,
    frame: { ...img.frame, mcontext: { ...img.frame.mcontext, fpstate: newFp } },
    base: img.base + delta,
    fpstate: t.fpstate,
    fpstateOffset: off,
    size: off + t.fpstate.size,
    extra: img.extra.filter((r) => r.offset + r.bytes.length <= off),
  };
  const bytes = encodeSigframeImage(image);
  return {
    image,
    bytes,
    fpstate: t,
    relocation: {
      fpstateOffset: off,
      base: { from: img.base, to: image.base },
      fpstate: { from: oldFp, to: newFp },
      end: { from: oldEnd, to: newFp + BigInt(t.fpstate.size) },
      delta,
      inPlace: delta === 0n,
    },
  };
}

/** What B's XRSTOR would read for a component of the untranslated frame. */
export interface UntranslatedRead {
  bit: number;
  name: string;
  /** Where A's frame holds it. */
  from: { offset: number; size: number };
  /** Where B reads it. */
  to: { offset: number; size: number };
  /**
   * What the untranslated bytes B would load hold: A's components the frame carries, "magic2",
   * and "past the frame" when the read runs beyond the input.
   */
  overlaps: string[];
  /** B's read runs past the source frame's magic2 (xstate_size) / past its last byte. */
  pastXstateSize: boolean;
  pastArea: boolean;
}

/**
 * For each component of the source frame holding state that B's task has at a different offset:
 * what B would load from the untranslated bytes (the misplacement translation avoids).
 */
export function untranslatedReads(src: Fpstate, from: XsaveLayout, to: XsaveLayout): UntranslatedRead[] {
  const header = src.header;
  if (!header) return [];
  const slotsA = componentSlots(from, header);
  const out: UntranslatedRead[] = [];
  for (const s of slotsA) {
    if (!hasBit(header.xstateBv, s.bit) || !hasBit(src.sw.xfeatures, s.bit)) continue;
    const cb = to.components.find((c) => c.bit === s.bit && c.enabled);
    if (!cb || cb.offset === s.offset) continue;
    const lo = cb.offset;
    const hi = cb.offset + cb.size;
    const overlaps = slotsA
      .filter((o) => o.offset < hi && o.offset + o.size > lo && hasBit(src.sw.xfeatures, o.bit))
      .map((o) => o.name);
    const m2 = src.sw.xstateSize;
    if (m2 < hi && m2 + 4 > lo) overlaps.push("magic2");
    if (hi > src.size) overlaps.push("past the frame");
    out.push({
      bit: s.bit,
      name: s.name,
      from: { offset: s.offset, size: s.size },
      to: { offset: cb.offset, size: cb.size },
      overlaps,
      pastXstateSize: hi > src.sw.xstateSize,
      pastArea: hi > src.size,
    });
  }
  return out;
}

export interface TranslationPrediction {
  prediction: Prediction;
  /** Every moved component (and MXCSR) is loaded from the frame at B's offset. */
  restored: boolean;
  /** Moved components that are not loaded from their B offset. */
  missing: string[];
}

export interface PredictTranslationOptions {
  task: XsaveLayout;
  policies: readonly Policy[];
  /** The fpstate's address, where known. */
  address?: bigint;
  /** Bytes mapped from the fpstate on; default the larger of the area and user_size + 4. */
  readableBytes?: number;
  mxcsrMask?: number;
  compactedForm?: boolean;
}

/** predict() on the translated area under each policy, and whether it restores what was moved. */
export function predictTranslation(
  t: FpstateTranslation,
  opts: PredictTranslationOptions,
): TranslationPrediction[] {
  return opts.policies.map((policy) => {
    const pin: PredictInput = {
      fpstate: t.bytes,
      task: opts.task,
      policy,
      readableBytes: opts.readableBytes ?? Math.max(t.bytes.length, opts.task.userSize + 4),
    };
    if (opts.address !== undefined) pin.address = opts.address;
    if (opts.mxcsrMask !== undefined) pin.mxcsrMask = opts.mxcsrMask;
    if (opts.compactedForm !== undefined) pin.compactedForm = opts.compactedForm;
    const p = predict(pin);
    const missing: string[] = [];
    for (const m of t.components) {
      if (m.action !== "moved" && m.action !== "kept") continue;
      const o = p.components.find((c) => c.bit === m.bit);
      if (o?.result !== "frame" || o.offset !== m.to!.offset) missing.push(m.name);
    }
    if (p.mxcsr !== "frame") missing.push("MXCSR");
    return { prediction: p, restored: p.path === "xrstor" && missing.length === 0, missing };
  });
}
