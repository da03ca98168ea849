/** Reading a frame file for inspect/predict: a whole rt_sigframe, an SROP payload, or only the FPU area. */
import { isSigframeError, UsageError } from "../../core/errors.ts";
import {
  type DecodedFrameInput,
  decodeFrameInput,
  detectFrameFormat,
  type FrameFormat,
  type FrameInputOptions,
  MAX_FRAME_BYTES,
} from "../../core/sigframe/input.ts";
import { readInput } from "../../node/files.ts";

export type { FrameFormat };

export interface FrameFlags {
  fpstateOnly?: boolean;
  frame?: boolean;
  ucontext?: boolean;
}

export interface FrameInput extends DecodedFrameInput {
  name: string;
  bytes: Uint8Array;
  /** How the format was chosen. */
  detected: boolean;
}

/** The one format the flags ask for, or a guess from the bytes. */
function chooseFormat(flags: FrameFlags, bytes: Uint8Array): { format: FrameFormat; detected: boolean } {
  const chosen = (["fpstateOnly", "frame", "ucontext"] as const).filter((k) => flags[k]);
  if (chosen.length > 1)
    throw new UsageError("choose one of --fpstate-only, --frame, --ucontext", {
      input: chosen.map((k) => (k === "fpstateOnly" ? "--fpstate-only" : `--${k}`)).join(" "),
    });
  if (chosen[0] === "fpstateOnly") return { format: "fpstate", detected: false };
  if (chosen[0] === "frame") return { format: "frame", detected: false };
  if (chosen[0] === "ucontext") return { format: "ucontext", detected: false };
  return { format: detectFrameFormat(bytes), detected: true };
}

export function readFrameInput(file: string, flags: FrameFlags, opts: FrameInputOptions): FrameInput {
  const f = readInput(file, MAX_FRAME_BYTES);
  const { format, detected } = chooseFormat(flags, f.bytes);
  try {
    return { ...decodeFrameInput(f.bytes, format, opts), name: f.name, bytes: f.bytes, detected };
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: f.name });
    throw e;
  }
}
