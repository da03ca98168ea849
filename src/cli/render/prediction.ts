/** How a prediction's path reads in human output. */
import type { Prediction } from "../../core/sigreturn/types.ts";
import type { CliContext } from "../context.ts";

export function pathLabel(c: CliContext["c"], p: Prediction): string {
  if (p.signal && p.path !== "fault")
    return `${p.path === "xrstor" ? "XRSTOR" : p.path}, then ${c.red(c.bold(`${p.signal} (si_code ${p.siCode ?? "?"})`))}`;
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
