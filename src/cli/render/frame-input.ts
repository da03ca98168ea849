/** Reading a frame file for inspect/predict: a whole rt_sigframe, an SROP payload, or only the FPU area. */
import { UsageError } from "../../core/errors.ts";
import { decodeFpstate, type Fpstate } from "../../core/sigframe/fpstate.ts";
import { decodeSigframeImage, type FrameStart, type SigframeImage } from "../../core/sigframe/frame.ts";
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET } from "../../core/xsave/components.ts";
import type { XsaveLayout } from "../../core/xsave/layout.ts";
import { readInput } from "../../node/files.ts";

export type FrameFormat = "fpstate" | "frame" | "ucontext";

export interface FrameFlags {
  fpstateOnly?: boolean;
  frame?: boolean;
  ucontext?: boolean;
}

export interface FrameInput {
  name: string;
  bytes: Uint8Array;
  format: FrameFormat;
  /** How the format was chosen. */
  detected: boolean;
  image?: SigframeImage;
  fpstate?: Fpstate;
  /** The FPU area bytes (from the fpstate address on), null for a NULL fpstate pointer. */
  fpstateBytes: Uint8Array | null;
  /** Where the FPU area sits, when known. */
  fpstateAddress?: bigint;
}

/** The one format the flags ask for, or a guess from the bytes. */
export function chooseFormat(
  flags: FrameFlags,
  bytes: Uint8Array,
): { format: FrameFormat; detected: boolean } {
  const chosen = (["fpstateOnly", "frame", "ucontext"] as const).filter((k) => flags[k]);
  if (chosen.length > 1) throw new UsageError("choose one of --fpstate-only, --frame, --ucontext");
  if (chosen[0] === "fpstateOnly") return { format: "fpstate", detected: false };
  if (chosen[0] === "frame") return { format: "frame", detected: false };
  if (chosen[0] === "ucontext") return { format: "ucontext", detected: false };
  const magicAt = (off: number) =>
    bytes.length >= off + 4 &&
    new DataView(bytes.buffer, bytes.byteOffset).getUint32(off, true) === FP_XSTATE_MAGIC1;
  if (magicAt(SW_BYTES_OFFSET)) return { format: "fpstate", detected: true };
  if (bytes.length === 248 || bytes.length === 304) return { format: "ucontext", detected: true };
  if (bytes.length >= 440 && !magicAt(SW_BYTES_OFFSET)) {
    // An FXSAVE-only image is exactly 512 bytes; anything else this long is taken as a frame.
    if (bytes.length !== 512) return { format: "frame", detected: true };
  }
  return { format: "fpstate", detected: true };
}

export function readFrameInput(
  file: string,
  flags: FrameFlags,
  opts: { base?: bigint; layout?: XsaveLayout },
): FrameInput {
  const f = readInput(file, 64 * 1024 * 1024);
  const { format, detected } = chooseFormat(flags, f.bytes);
  try {
    if (format === "fpstate") {
      const dopts: Parameters<typeof decodeFpstate>[1] = {};
      if (opts.layout) dopts.layout = opts.layout;
      const fp = decodeFpstate(f.bytes, dopts);
      const out: FrameInput = {
        name: f.name,
        bytes: f.bytes,
        format,
        detected,
        fpstate: fp,
        fpstateBytes: f.bytes,
      };
      if (opts.base !== undefined) out.fpstateAddress = opts.base;
      return out;
    }
    const start: FrameStart = format === "frame" ? "pretcode" : "uc";
    const dopts: Parameters<typeof decodeSigframeImage>[1] = { start };
    if (opts.base !== undefined) dopts.base = opts.base;
    if (opts.layout) dopts.layout = opts.layout;
    const img = decodeSigframeImage(f.bytes, dopts);
    const out: FrameInput = {
      name: f.name,
      bytes: f.bytes,
      format,
      detected,
      image: img,
      fpstateBytes: null,
    };
    if (img.fpstate && img.fpstateOffset !== undefined) {
      out.fpstate = img.fpstate;
      out.fpstateBytes = f.bytes.subarray(img.fpstateOffset);
      out.fpstateAddress = img.frame.mcontext.fpstate;
    }
    return out;
  } catch (e) {
    if (e instanceof Error && "locate" in e)
      (e as { locate(w: { input: string }): void }).locate({ input: f.name });
    throw e;
  }
}
