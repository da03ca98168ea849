/**
 * Step 1 of a translation: is the source area something that can be moved from A's layout to
 * B's? Refuses what cannot be translated (no XSAVE on either side, a legacy FXSAVE image, no XSAVE
 * header, state A cannot hold, an xcomp_bv XRSTOR rejects) and notes what is odd but carried.
 */
import { InvalidDataError, TruncatedInputError, UsageError } from "../../errors.ts";
import { bitsOf, hex } from "../../hex.ts";
import { FP_XSTATE_MAGIC1 } from "../../xsave/components.ts";
import type { XsaveLayout } from "../../xsave/layout.ts";
import { checkFpstate } from "../check.ts";
import type { Fpstate, XsaveHeader } from "../fpstate.ts";

export interface ValidSource {
  header: XsaveHeader;
  /** Facts about the source a user should know. */
  notes: string[];
}

/** Throws on a source that cannot be translated from `from` to `to`. */
export function validateSource(src: Fpstate, from: XsaveLayout, to: XsaveLayout): ValidSource {
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
  return { header, notes };
}
