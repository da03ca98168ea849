/** The help text of the frame-format options of inspect, predict and translate. */
import { FRAME_FORMATS } from "../../core/sigframe/input.ts";

export const AS_HELP = `read FILE as this format, detection off: ${FRAME_FORMATS.join(", ")} (as --frame, --ucontext, --fpstate-only, --ia32 …)`;

/** The options every frame-reading command takes for ia32 inputs. */
export const IA32_FLAG_HELP = {
  ia32: "FILE is a 32-bit task's: rt_sigframe_ia32 (with --frame), FPU area with the FSAVE header (with --fpstate-only), else detected",
  ia32Sigframe: "FILE is a 32-bit task's non-rt sigframe_ia32",
};
