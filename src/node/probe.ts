/**
 * `sigframe probe` without the printing: capture the host, compute the cases from its layout,
 * run them through the native helper, and compare every result with the sigreturn model.
 */
import { UsageError } from "../core/errors.ts";
import { parseKernelVersion } from "../core/kernel.ts";
import {
  type AnalyzeContext,
  analyzeCase,
  type CaseResult,
  type Verdict,
  verdict,
} from "../core/probe/analyze.ts";
import { CASE_IDS, caseContextFor, type ProbeCase, probeCases } from "../core/probe/cases.ts";
import { patterns } from "../core/probe/patterns.ts";
import type { Isa } from "../core/probe/regions.ts";
import type { Profile } from "../core/profile.ts";
import { type KernelPolicies, type Policy, policiesForKernel, predict } from "../core/sigreturn/index.ts";
import { computeLayout, type XsaveLayout } from "../core/xsave/layout.ts";
import { nativeHostCapture, nativeProbe, requireHelper } from "./native.ts";

export interface ProbeReport {
  kernel: string;
  profile: Profile;
  layout: XsaveLayout;
  isa: Isa;
  kBits: number;
  results: CaseResult[];
  verdict: Verdict;
  /** What the kernel-version table says, where the release parses. */
  expected?: KernelPolicies;
  warnings: string[];
}

/** Parses `--cases a,b,c` against the known ids (a usage error names the unknown ones). */
export function parseCaseList(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  const ids = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !CASE_IDS.includes(id));
  if (unknown.length || ids.length === 0) {
    throw new UsageError(
      `unknown case${unknown.length > 1 ? "s" : ""} ${unknown.join(", ") || "(empty list)"}; 'sigframe probe --list' shows them`,
      { input: "--cases" },
    );
  }
  return ids;
}

export function selectCases(all: ProbeCase[], ids: string[] | undefined): ProbeCase[] {
  return ids ? all.filter((c) => ids.includes(c.id)) : all;
}

const ISA_ORDER: readonly Isa[] = ["sse", "avx", "avx512"];

/**
 * `isa` narrows the register set below what the CPU has (e.g. to check the AVX-only and SSE-only
 * paths of the helper and the classifier on an AVX-512 machine).
 */
export function runProbe(opts: { cases?: string[]; isa?: Isa } = {}): ProbeReport {
  requireHelper("probe");
  const host = nativeHostCapture();
  const profile = host.profile;
  const layout = computeLayout(profile);
  const warnings = [...layout.warnings];
  if (profile.observed && profile.observed.xstateSize !== layout.userSize) {
    warnings.push(
      `the kernel wrote xstate_size ${profile.observed.xstateSize}, the layout model gives user_size ${layout.userSize}`,
    );
  }
  let isa = host.cpuid.isa;
  if (opts.isa && ISA_ORDER.indexOf(opts.isa) < ISA_ORDER.indexOf(isa)) isa = opts.isa;
  const cases = selectCases(probeCases(caseContextFor(profile, layout, isa)), opts.cases);
  const pat = patterns();
  const toRun = cases.filter((c) => !c.skip);
  const run = toRun.length ? nativeProbe(toRun, pat.A, { isa }) : undefined;
  if (run && run.isa !== isa) {
    warnings.push(`the helper used ${run.isa} registers for the probe, the cases were made for ${isa}`);
  }
  const actx: AnalyzeContext = {
    layout,
    isa: run?.isa ?? isa,
    kBits: run?.kBits ?? host.cpuid.kBits,
    patterns: pat,
    xsavec: profile.cpuid.has("XSAVEC"),
    predict,
  };
  if (profile.mxcsrMask !== undefined) actx.mxcsrMask = profile.mxcsrMask;
  const results = cases.map((c) =>
    analyzeCase(
      c,
      run?.cases.find((r) => r.id === c.id),
      actx,
    ),
  );
  const kernel = profile.kernel ?? "unknown";
  const report: ProbeReport = {
    kernel,
    profile,
    layout,
    isa: actx.isa,
    kBits: actx.kBits,
    results,
    verdict: verdict(results),
    warnings,
  };
  try {
    report.expected = policiesForKernel(parseKernelVersion(kernel));
  } catch {}
  return report;
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
