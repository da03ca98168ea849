/**
 * `sigframe probe` on this machine: capture the host through the native helper, compute the cases
 * from its layout, run them, and compare every result with the sigreturn model (core/probe/report.ts).
 */

import type { ProbeCase } from "../core/probe/cases.ts";
import type { Isa } from "../core/probe/regions.ts";
import { casesToRun, type ProbeReport, planProbe, probeReport } from "../core/probe/report.ts";
import type { Policy } from "../core/sigreturn/index.ts";
import { nativeHostCapture, nativeProbe, nativeRunner } from "./native.ts";

export { parseCaseList, selectCases } from "../core/probe/report.ts";
export type { ProbeReport };

/**
 * `isa` narrows the register set below what the CPU has (e.g. to check the AVX-only and SSE-only
 * paths of the helper and the classifier on an AVX-512 machine).
 */
export function runProbe(opts: { cases?: string[]; isa?: Isa; extra?: ProbeCase[] } = {}): ProbeReport {
  const runner = nativeRunner("probe");
  const plan = planProbe(nativeHostCapture(runner), opts);
  const toRun = casesToRun(plan);
  const run = toRun.length ? nativeProbe(toRun, plan.patterns.A, { isa: plan.isa }, runner) : undefined;
  return probeReport(plan, run);
}

/**
 * The sigreturn policy this machine's kernel implements, measured by running the probe: undefined
 * where the native helper cannot run. Used by `check --to host`, so a host is judged by what its
 * kernel does rather than by the release table.
 */
export function measuredHostPolicy(): { policies: Policy[]; note: string } | undefined {
  let r: ProbeReport;
  try {
    r = runProbe();
  } catch {
    return undefined;
  }
  const ran = r.results.filter((x) => !x.skipped).length;
  const v = r.verdict;
  if (v.policy !== "unknown") {
    return {
      policies: [v.policy],
      note: `policy measured on this kernel: all ${ran} probe cases match ${v.policy}`,
    };
  }
  if (v.candidates.length) {
    return {
      policies: v.candidates,
      note: `the probe's ${ran} cases match ${v.candidates.join(" and ")} alike on this CPU`,
    };
  }
  return undefined;
}
