/** Reading a frame file for inspect/predict: a whole rt_sigframe, an SROP payload, or only the FPU area. */

import { statSync } from "node:fs";
import { isSigframeError, UsageError } from "../../core/errors.ts";
import {
  type DecodedFrameInput,
  decodeFrameInput,
  detectFrameFormat,
  detectIa32FrameFormat,
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
  /** A 32-bit task's frame or FPU area. */
  ia32?: boolean;
  /** A 32-bit task's non-rt struct sigframe_ia32. */
  ia32Sigframe?: boolean;
  /** `--as KIND`: the format by name (frame, ucontext, fpstate, ia32-frame, ia32-fpstate, ia32-sigframe). */
  as?: string;
}

const AS_KINDS: readonly FrameFormat[] = [
  "frame",
  "ucontext",
  "fpstate",
  "ia32-frame",
  "ia32-fpstate",
  "ia32-sigframe",
];

export const AS_HELP = `read FILE as this format, detection off: ${AS_KINDS.join(", ")} (as --frame, --ucontext, --fpstate-only, --ia32 …)`;

/** The options every frame-reading command takes for ia32 inputs. */
export const IA32_FLAG_HELP = {
  ia32: "FILE is a 32-bit task's: rt_sigframe_ia32 (with --frame), FPU area with the FSAVE header (with --fpstate-only), else detected",
  ia32Sigframe: "FILE is a 32-bit task's non-rt sigframe_ia32",
};

export interface FrameInput extends DecodedFrameInput {
  name: string;
  bytes: Uint8Array;
  /** How the format was chosen. */
  detected: boolean;
}

/** The one format the flags ask for, or a guess from the bytes. */
function chooseFormat(flags: FrameFlags, bytes: Uint8Array): { format: FrameFormat; detected: boolean } {
  if (flags.as !== undefined) {
    const kind = flags.as as FrameFormat;
    if (!AS_KINDS.includes(kind))
      throw new UsageError(`expected one of ${AS_KINDS.join(", ")}, got ${JSON.stringify(flags.as)}`, {
        input: "--as",
      });
    if (flags.fpstateOnly || flags.frame || flags.ucontext || flags.ia32 || flags.ia32Sigframe)
      throw new UsageError("--as names the format: drop --fpstate-only, --frame, --ucontext, --ia32", {
        input: "--as",
      });
    return { format: kind, detected: false };
  }
  const chosen = (["fpstateOnly", "frame", "ucontext"] as const).filter((k) => flags[k]);
  if (flags.ia32Sigframe) {
    if (chosen.length)
      throw new UsageError(
        "--ia32-sigframe names the whole format: drop --fpstate-only, --frame, --ucontext",
        {
          input: "--ia32-sigframe",
        },
      );
    return { format: "ia32-sigframe", detected: false };
  }
  if (flags.ia32) {
    if (chosen.length > 1 || chosen[0] === "ucontext")
      throw new UsageError("with --ia32 choose at most one of --fpstate-only, --frame", { input: "--ia32" });
    if (chosen[0] === "fpstateOnly") return { format: "ia32-fpstate", detected: false };
    if (chosen[0] === "frame") return { format: "ia32-frame", detected: false };
    return { format: detectIa32FrameFormat(bytes), detected: true };
  }
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
  let f: ReturnType<typeof readInput>;
  try {
    f = readInput(file, MAX_FRAME_BYTES);
  } catch (e) {
    if (file !== "-" && isDirectory(file))
      throw new UsageError(
        "is a directory, not a frame file (a CRIU checkpoint?): 'sigframe scan DIR' finds its frames and 'sigframe scan DIR --save-frames OUT' writes each as a file",
        { input: file },
      );
    throw e;
  }
  try {
    const { format, detected } = chooseFormat(flags, f.bytes);
    return { ...decodeFrameInput(f.bytes, format, opts), name: f.name, bytes: f.bytes, detected };
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: f.name });
    throw e;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
