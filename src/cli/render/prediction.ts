/** How a prediction's path reads in human output. */
import type { Prediction } from "../../core/sigreturn/types.ts";
import type { CliContext } from "../context.ts";

export function pathLabel(c: CliContext["c"], p: Prediction): string {
  switch (p.path) {
    case "fault":
      return c.red(c.bold("SIGSEGV"));
    case "fxrstor-fallback":
      return c.yellow("FXRSTOR (FX-only)");
    case "init":
      return "init (no FPU state)";
    default:
      return c.green("XRSTOR");
  }
}
