/**
 * Recorded frames (from `sigframe build`, `scan`, another host) as probe cases: the FPU area is
 * written into a fresh, zero-filled, 64-byte aligned mapping and handed to rt_sigreturn as the
 * task's fpstate; the registers that come back are classified like every case (`M`: the frame's
 * own bytes, `0`: init, `A`: not restored), and the model predicts the same bytes at the same
 * address.
 */
import { UsageError } from "../errors.ts";
import { hex } from "../hex.ts";
import { type DecodedFrameInput, FRAME_FORMAT_TEXT, isIa32Format } from "../sigframe/input.ts";
import { FP_XSTATE_MAGIC1, FXSAVE_SIZE } from "../xsave/components.ts";
import type { ProbeCase } from "./cases.ts";

/** The most of a recorded FPU area the helper takes (its relocation area is at least this and a page). */
export const MAX_FOREIGN_FPSTATE = 65536;

/** The bytes of the area the frame itself claims: extended_size (or xstate_size + 4) with magic1, else 512. */
function claimedBytes(input: DecodedFrameInput, available: number): number {
  const sw = input.fpstate?.sw;
  if (!sw || sw.magic1 !== FP_XSTATE_MAGIC1) return Math.min(available, FXSAVE_SIZE);
  const want = Math.max(sw.xstateSize + 4, Math.min(sw.extendedSize, available));
  return Math.min(available, want);
}

export function foreignCase(index: number, name: string, input: DecodedFrameInput): ProbeCase {
  const where = { input: name };
  if (isIa32Format(input.format))
    throw new UsageError("a 32-bit task's frame: --foreign takes x86-64 frames", where);
  if (!input.fpstateBytes || !input.fpstate)
    throw new UsageError("the frame has no FPU area (its fpstate pointer is NULL)", where);
  const n = claimedBytes(input, input.fpstateBytes.length);
  if (n > MAX_FOREIGN_FPSTATE)
    throw new UsageError(
      `its FPU area is ${n} bytes, more than the ${MAX_FOREIGN_FPSTATE} the helper takes`,
      where,
    );
  const bytes = input.fpstateBytes.slice(0, n);
  const sw = input.fpstate.sw;
  const what =
    sw.magic1 === FP_XSTATE_MAGIC1
      ? `xstate_size ${sw.xstateSize}, xfeatures ${hex(sw.xfeatures)}`
      : "FXSAVE-only (no magic1)";
  return {
    id: `foreign-${index + 1}`,
    description: `${name}: ${FRAME_FORMAT_TEXT[input.format]}, ${what}, ${n} bytes at a 64-byte aligned address`,
    edit: { place: { kind: "copy", align: 0 }, copyLen: 0, writes: [{ offset: 0, bytes }] },
  };
}
