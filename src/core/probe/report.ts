/**
 * The probe as a request and a report, whoever runs the helper (this kernel, a runtime such as
 * gVisor or qemu-user, a kernel booted under QEMU): what the helper says about its CPU and frame
 * becomes a profile (`helperCapture`), the cases are computed for that layout (`planProbe`), and
 * what came back is compared with the sigreturn model under every policy (`probeReport`).
 * `probeJson` is the `probe --json` document.
 */
import { Cpuid } from "../cpuid/cpuid.ts";
import { UsageError } from "../errors.ts";
import { hex } from "../hex.ts";
import { parseKernelVersion } from "../kernel.ts";
import { type Profile, profileFromCpuid, profileSummary } from "../profile.ts";
import { type KernelPolicies, type Policy, policiesForKernel, predict } from "../sigreturn/index.ts";
import type { Prediction } from "../sigreturn/types.ts";
import { FP_XSTATE_MAGIC1 } from "../xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import {
  AMX_CASE_IDS,
  amxCaseContextFor,
  amxProbeCases,
  analyzeAmxCase,
  isAmxCase,
  SIGALTSTACK_CASE_IDS,
  sigaltstackProbeCases,
} from "./amx.ts";
import { type AnalyzeContext, analyzeCase, type CaseResult, type Verdict, verdict } from "./analyze.ts";
import { CASE_IDS, caseContextFor, type ProbeCase, probeCases } from "./cases.ts";
import { type Patterns, patterns } from "./patterns.ts";
import { PKRU_CASE_IDS, pkruProbeCases } from "./pkru.ts";
import type { CaseRun, FrameSeen, HelperCpuid, ProbeRun } from "./protocol.ts";
import { type Isa, REGION_NAMES } from "./regions.ts";

/** What the helper reported about where it runs, as a profile. */
export interface ProbeCapture {
  profile: Profile;
  cpuid: HelperCpuid;
  frame: FrameSeen;
}

/** A profile from the helper's `cpuid` and `frame` answers (CPUID, XCR0, uname, the frame). */
export function helperCapture(
  c: HelperCpuid,
  f: FrameSeen,
  name = "host",
  note = `captured by the native helper on CPU ${c.cpu}`,
): ProbeCapture {
  const p = profileFromCpuid(new Cpuid(c.leaves), name, { kind: "host" }, [note]);
  p.kernel = c.uname.release;
  p.atMinSigStkSz = c.atMinSigStkSz;
  p.mxcsrMask = c.mxcsrMask;
  if (c.xcr0 !== undefined) p.xcr0 = c.xcr0;
  else p.notes.push("CPUID.1:ECX.OSXSAVE is clear: XCR0 cannot be read");
  if (c.xinuse !== undefined) p.xinuse = c.xinuse;
  if (f.sw && f.sw.magic1 === FP_XSTATE_MAGIC1) {
    p.observed = {
      xstateSize: f.sw.xstateSize,
      extendedSize: f.sw.extendedSize,
      xfeatures: f.sw.xfeatures,
      fpstateOffset: f.fpstateOffset,
    };
    if (f.xstateBv !== undefined) p.observed.xstateBv = f.xstateBv;
    if (f.mxcsrMask !== undefined) p.observed.mxcsrMask = f.mxcsrMask;
  } else {
    p.notes.push("the delivered frame has no magic1: the kernel writes FXSAVE-only frames (no XSAVE)");
  }
  return { profile: p, cpuid: c, frame: f };
}

/** Parses `--cases a,b,c` against the known ids (a usage error names the unknown ones). */
export function parseCaseList(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  const ids = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const known = [...CASE_IDS, ...PKRU_CASE_IDS, ...AMX_CASE_IDS, ...SIGALTSTACK_CASE_IDS];
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length || ids.length === 0) {
    throw new UsageError(
      `unknown case${unknown.length > 1 ? "s" : ""} ${unknown.join(", ") || "(empty list)"}; 'sigframe probe --list' shows them`,
      { input: "--cases" },
    );
  }
  return ids;
}

export function selectCases(all: ProbeCase[], ids: readonly string[] | undefined): ProbeCase[] {
  return ids ? all.filter((c) => ids.includes(c.id)) : all;
}

/**
 * Every built-in case for a layout: the frame cases, the PKRU cases (pkru.ts), the AMX cases and
 * the sigaltstack delivery cases (amx.ts).
 */
export function hostCases(profile: Profile, layout: XsaveLayout, isa?: Isa): ProbeCase[] {
  const ctx = caseContextFor(profile, layout, isa);
  const amx = amxCaseContextFor(profile, layout, ctx.isa);
  return [
    ...probeCases(ctx),
    ...pkruProbeCases(layout, ctx.isa),
    ...amxProbeCases(amx),
    ...sigaltstackProbeCases(amx),
  ];
}

/** One line of `probe --list`: a case, and why it would be skipped on this CPU. */
export interface ProbeCaseListJson {
  id: string;
  description: string;
  skip?: string;
}

/** `probe --list [--cases …]`: the cases for this CPU, without running them. */
export function probeCaseList(profile: Profile, ids?: readonly string[]): ProbeCaseListJson[] {
  return selectCases(hostCases(profile, computeLayout(profile)), ids).map((c) => ({
    id: c.id,
    description: c.description,
    ...(c.skip ? { skip: c.skip } : {}),
  }));
}

const ISA_ORDER: readonly Isa[] = ["sse", "avx", "avx512"];

export interface ProbeRequest {
  /** Case ids to run (default: all). */
  cases?: readonly string[];
  /** A narrower register set than the CPU has (to exercise the AVX-only and SSE-only paths). */
  isa?: Isa;
  /** Cases run after the built-in ones (foreign frames). */
  extra?: readonly ProbeCase[];
  /**
   * The task the model receives the frames in. Default: the layout Linux computes for the
   * captured CPU; a runtime whose frames only fit a task with AMX tile data gets that one.
   */
  layout?: XsaveLayout;
}

/** The cases computed for the captured layout, before anything runs. */
export interface ProbePlan {
  capture: ProbeCapture;
  layout: XsaveLayout;
  isa: Isa;
  /** Every selected case, skipped ones with the reason. */
  cases: ProbeCase[];
  patterns: Patterns;
  warnings: string[];
}

export function planProbe(capture: ProbeCapture, req: ProbeRequest = {}): ProbePlan {
  const profile = capture.profile;
  const layout = req.layout ?? computeLayout(profile);
  const warnings = [...layout.warnings];
  if (profile.observed && profile.observed.xstateSize !== layout.userSize) {
    warnings.push(
      `the frame's xstate_size is ${profile.observed.xstateSize}, the layout model gives user_size ${layout.userSize}`,
    );
  }
  let isa = capture.cpuid.isa;
  if (req.isa && ISA_ORDER.indexOf(req.isa) < ISA_ORDER.indexOf(isa)) isa = req.isa;
  const cases = [...selectCases(hostCases(profile, layout, isa), req.cases), ...(req.extra ?? [])];
  return { capture, layout, isa, cases, patterns: patterns(), warnings };
}

/** The cases that run (not skipped by the plan). */
export function casesToRun(plan: ProbePlan): ProbeCase[] {
  return plan.cases.filter((c) => !c.skip);
}

export interface ProbeReport {
  /** The kernel release the helper saw (uname inside the runtime or guest). */
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

export interface AnalyzeOptions {
  /**
   * The CPU is emulated by QEMU's TCG, whose XRSTOR/FXRSTOR load reserved MXCSR bits instead of
   * raising #GP: the model is asked with an all-ones MXCSR_MASK so that the kernel under test is
   * judged, not the emulator (target/i386/tcg/fpu_helper.c, cpu_set_mxcsr()).
   */
  mxcsrFaults?: boolean;
}

/** Compares what ran with the model, case by case, and names the policy every case agrees with. */
export function probeReport(
  plan: ProbePlan,
  run: ProbeRun | undefined,
  opts: AnalyzeOptions = {},
): ProbeReport {
  const profile = plan.capture.profile;
  const warnings = [...plan.warnings];
  if (run && run.isa !== plan.isa) {
    warnings.push(`the helper used ${run.isa} registers for the probe, the cases were made for ${plan.isa}`);
  }
  const actx: AnalyzeContext = {
    layout: plan.layout,
    isa: run?.isa ?? plan.isa,
    kBits: run?.kBits ?? plan.capture.cpuid.kBits,
    patterns: plan.patterns,
    xsavec: profile.cpuid.has("XSAVEC"),
    predict,
  };
  if (run) actx.fpstateLimit = run.fpstateLimit;
  const first = run?.cases.find((c) => c.delivered);
  if (first?.delivered) actx.standIn = { id: first.id, frame: first.delivered };
  if (profile.mxcsrMask !== undefined) actx.mxcsrMask = profile.mxcsrMask;
  if (opts.mxcsrFaults === false) actx.mxcsrMask = 0xffffffff;
  const byId = new Map<string, CaseRun>((run?.cases ?? []).map((c) => [c.id, c]));
  const results = plan.cases.map((c) =>
    isAmxCase(c) ? analyzeAmxCase(c, byId.get(c.id), actx) : analyzeCase(c, byId.get(c.id), actx),
  );
  const kernel = profile.kernel ?? "unknown";
  const report: ProbeReport = {
    kernel,
    profile,
    layout: plan.layout,
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

/** One case of `probe --json`. */
export interface ProbeCaseJson {
  id: string;
  description: string;
  observed: string | null;
  predicted: string | null;
  match: boolean;
  predictions: Record<
    Policy,
    { letters: string; path: Prediction["path"]; reason: string; detail: string }
  > | null;
  outcome: CaseRun["outcome"] | null;
  siCode?: number;
  fpstate?: string;
  editApplied?: boolean;
  notes: string[];
}

/** The `probe --json` document. */
export interface ProbeJson {
  kernel: string;
  policy: Policy | "unknown";
  mismatches: number;
  comparedWith: Policy;
  candidates: Policy[];
  policyMismatches: Record<Policy, string[]>;
  expected: KernelPolicies | null;
  cpu: ReturnType<typeof profileSummary>;
  xcr0: string;
  userSize: number;
  isa: Isa;
  regions: typeof REGION_NAMES;
  cases: ProbeCaseJson[];
  skipped: { id: string; description: string; reason: string }[];
  warnings: string[];
}

/** Whether a case's observation equals the prediction of `policy`. */
export function caseMatches(c: CaseResult, policy: Policy): boolean {
  return (
    c.predictions !== undefined && c.editApplied !== false && c.observed === c.predictions[policy].letters
  );
}

export function probeJson(r: ProbeReport): ProbeJson {
  const v = r.verdict;
  const ran = r.results.filter((c) => !c.skipped);
  return {
    kernel: r.kernel,
    policy: v.policy,
    mismatches: v.mismatches,
    comparedWith: v.comparedWith,
    candidates: v.candidates,
    policyMismatches: v.byPolicy,
    expected: r.expected ?? null,
    cpu: profileSummary(r.profile),
    xcr0: hex(r.layout.xcr0),
    userSize: r.layout.userSize,
    isa: r.isa,
    regions: REGION_NAMES,
    cases: ran.map((c) => ({
      id: c.id,
      description: c.description,
      observed: c.observed ?? null,
      predicted: c.predictions?.[v.comparedWith].letters ?? null,
      match: caseMatches(c, v.comparedWith),
      predictions: c.predictions ?? null,
      outcome: c.run?.outcome ?? null,
      ...(c.run?.fault ? { siCode: c.run.fault.siCode } : {}),
      ...(c.run?.placed ? { fpstate: hex(c.run.placed.address) } : {}),
      ...(c.editApplied !== undefined ? { editApplied: c.editApplied } : {}),
      notes: c.notes,
    })),
    skipped: r.results
      .filter((c) => c.skipped)
      .map((c) => ({ id: c.id, description: c.description, reason: c.skipped! })),
    warnings: r.warnings,
  };
}
