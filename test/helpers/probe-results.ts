/**
 * Probe results as the analysis leaves them (core/probe/analyze.ts CaseResult), made by hand with
 * letters the probe measured, for the report code that classifies and names policies.
 */
import { type CaseResult, verdict } from "../../src/core/probe/analyze.ts";
import type { ProbeReport } from "../../src/core/probe/report.ts";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";

const spr = builtinProfile("intel-sapphirerapids");
const layout = computeLayout(spr);

/**
 * A case as analyzed: what came back and what each policy predicts (letters as the probe
 * measured them on QEMU's -cpu max layout: XMM YMMH ZMMH HI16 K MXCSR).
 */
export function result(
  id: string,
  observed: string | undefined,
  classic: string,
  refined = classic,
  legacy = classic,
  more: Partial<CaseResult> = {},
): CaseResult {
  const p = (letters: string) => ({
    letters,
    path: letters === "SIGSEGV" ? ("fault" as const) : ("xrstor" as const),
    reason: `reason-${id}`,
    detail: `detail of ${id}`,
  });
  const r: CaseResult = {
    id,
    description: `the ${id} case`,
    predictions: { classic: p(classic), refined: p(refined), legacy: p(legacy) },
    editApplied: true,
    notes: [],
    ...more,
  };
  if (observed !== undefined) r.observed = observed;
  return r;
}

/** A probe report of `results` (the verdict computed from them). */
export function report(results: CaseResult[], kernel = "6.18.44"): ProbeReport {
  return {
    kernel,
    profile: spr,
    layout,
    isa: "avx512",
    kBits: 64,
    results,
    verdict: verdict(results),
    warnings: [],
  };
}
