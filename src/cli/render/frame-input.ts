/** Frame files for inspect/predict/translate: their bytes from disk (the core decodes them), and the help text of the format options. */
import { statSync } from "node:fs";
import { UsageError } from "../../core/errors.ts";
import { FRAME_FORMATS, MAX_FRAME_BYTES } from "../../core/sigframe/input.ts";
import { readInput } from "../../node/files.ts";

export const AS_HELP = `read FILE as this format, detection off: ${FRAME_FORMATS.join(", ")} (as --frame, --ucontext, --fpstate-only, --ia32 …)`;

/** The options every frame-reading command takes for ia32 inputs. */
export const IA32_FLAG_HELP = {
  ia32: "FILE is a 32-bit task's: rt_sigframe_ia32 (with --frame), FPU area with the FSAVE header (with --fpstate-only), else detected",
  ia32Sigframe: "FILE is a 32-bit task's non-rt sigframe_ia32",
};

/** A frame file's bytes; a directory is named for what it likely is (a checkpoint: scan it). */
export function readFrameFile(file: string, max = MAX_FRAME_BYTES): { name: string; bytes: Uint8Array } {
  try {
    return readInput(file, max);
  } catch (e) {
    if (file !== "-" && isDirectory(file))
      throw new UsageError(
        "is a directory, not a frame file (a CRIU checkpoint?): 'sigframe scan DIR' finds its frames and 'sigframe scan DIR --save-frames OUT' writes each as a file",
        { input: file },
      );
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
