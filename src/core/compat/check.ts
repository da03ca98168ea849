/**
 * `check`: will the FPU/vector state of a process on host A come back intact on host B?
 *
 * The frames to evaluate are an input list (`CheckInput.frames`); without one, the representative
 * frames of `standardFrames()` are used. Each frame is handed to the sigreturn model once per
 * kernel policy (evaluate.ts); the per-component fates give effects, grouped into findings
 * (group.ts). Layout-only facts (AMX permission, PKRU, glibc's cached size, MXCSR_MASK) are added
 * beside (static-findings.ts).
 */

import { bit } from "../hex.ts";
import { type MxcsrMask, type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import { describeCpu } from "../profile.ts";
import { POLICY_KERNELS } from "../sigreturn/policy.ts";
import { POLICIES, type Policy } from "../sigreturn/types.ts";
import { MASK_FPSSE, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type CriuCpuinfo, type CriuVerdict, criuCheck, criuCpuinfo } from "./criu.ts";
import { type Effect, effectsOf, evaluateFrame, type FrameOutcome, type Predictor } from "./evaluate.ts";
import { type Finding, type FrameStyle, type Severity, severityRank } from "./findings.ts";
import { type FrameCase, standardFrames } from "./frames.ts";
import { groupEffects } from "./group.ts";
import { frameStack, sigaltstackFindings, type ThreadAltstack } from "./sigstack.ts";
import { staticFindings } from "./static-findings.ts";

export interface Verdict {
  verdict: "compatible" | "warnings" | "incompatible";
  exitCode: 0 | 1 | 3;
}

export interface PolicyResult extends Verdict {
  /** Part of the overall verdict (selected with --kernel/--policy, or all). */
  selected: boolean;
  kernels: string;
  frames: FrameOutcome[];
}

export interface HostSummary {
  name: string;
  vendor: string;
  xsave: boolean;
  xcr0: bigint;
  userFeatures: bigint;
  userSize: number;
  /** MXCSR_MASK the check used for the host. */
  mxcsrMask: number;
  /** The mask is not measured: estimated from CPUID, or assumed. */
  mxcsrMaskEstimated?: boolean;
  /** The most stack one signal frame of the process's task takes (every alignment at its worst). */
  frameBytes: number;
  /** The kernel's AT_MINSIGSTKSZ on the host (init_sigframe_size(): every feature, AMX included). */
  atMinSigStkSz: number;
  /**
   * The CPU in words where its source does not identify it fully (a checkpoint's dump.log or
   * core-*.img, an ELF core): `AMD EPYC (AuthenticAMD family 26; model and stepping not recorded)`.
   */
  cpu?: string;
}

export interface CheckResult extends Verdict {
  from: HostSummary;
  to: HostSummary;
  /** Components the process is taken to use on A (its xstate_bv). */
  uses: bigint;
  /** Policies the verdict is about. */
  evaluated: Policy[];
  findings: Finding[];
  policies: Record<Policy, PolicyResult>;
  criu: CriuVerdict & { assessment: "agrees" | "refuses-needlessly" | "accepts-wrongly" };
  /** Frames evaluated, without their bytes. */
  frames: { id: string; style: FrameStyle; description: string; xstateSize: number }[];
}

export interface CheckInput {
  from: XsaveLayout;
  to: XsaveLayout;
  /** The sigreturn model. */
  predict: Predictor;
  /** Policies of the destination kernel; default all three. */
  policies?: Policy[];
  /** What the process uses (xstate_bv); default `defaultUses(from)`. */
  uses?: bigint;
  /** The frames to evaluate; default `standardFrames(from, to, …)`. */
  frames?: FrameCase[];
  /** Restorer-built frames to add when `frames` is not given; default both. */
  restorers?: ("criu" | "raw-copy")[];
  /**
   * MXCSR_MASK of each host: a measured value (0 → 0xffbf), or `mxcsrMaskOf(profile)` (measured,
   * else estimated from CPUID). Absent: assumed 0xffff, what every x86-64 CPU with DAZ reports.
   */
  fromMxcsrMask?: MxcsrMaskInput;
  toMxcsrMask?: MxcsrMaskInput;
  /** CRIU's cpuinfo of each host (criuCpuinfo()); computed from the layouts when absent. */
  criu?: { from: CriuCpuinfo; to: CriuCpuinfo };
  /** Host names for messages. */
  names?: { from: string; to: string };
  /** Findings about the input itself (frames that contradict the source layout), in the verdict too. */
  inputFindings?: Finding[];
  /**
   * The sigaltstack of each thread of a checkpoint: each is checked against B's frame, in place
   * of the sizes a program may have chosen on A.
   */
  altstacks?: ThreadAltstack[];
}

/**
 * What a process on A is taken to use unless told: every user feature A enables, except MPX
 * (Linux dropped its user ABI in v5.6; bound registers stay in init) and AMX (needs a
 * per-process permission first). PKRU counts: Linux sets it to 0x55555554, never init.
 */
export function defaultUses(from: XsaveLayout): bigint {
  const skip =
    bit(XFEATURE.BNDREGS) | bit(XFEATURE.BNDCSR) | bit(XFEATURE.XTILECFG) | bit(XFEATURE.XTILEDATA);
  return (from.userFeatures & ~skip) | MASK_FPSSE;
}

function verdictOf(severities: Severity[]): Verdict {
  const worst = Math.max(-1, ...severities.map(severityRank));
  if (worst >= 2) return { verdict: "incompatible", exitCode: 3 };
  if (worst === 1) return { verdict: "warnings", exitCode: 1 };
  return { verdict: "compatible", exitCode: 0 };
}

/** The whole check. Pure; the sigreturn model is passed in. */
export function checkCompat(input: CheckInput): CheckResult {
  const { from, to, predict } = input;
  const names = input.names ?? { from: from.profile.name, to: to.profile.name };
  const selected = input.policies && input.policies.length > 0 ? input.policies : [...POLICIES];
  const uses = ((input.uses ?? defaultUses(from)) & from.userFeatures) | MASK_FPSSE;
  const mx = { from: resolveMxcsrMask(input.fromMxcsrMask), to: resolveMxcsrMask(input.toMxcsrMask) };
  const frameOpts: Parameters<typeof standardFrames>[2] = {
    uses,
    fromMxcsrMask: mx.from,
    toMxcsrMask: mx.to,
  };
  if (input.restorers) frameOpts.restorers = input.restorers;
  const frames = input.frames ?? standardFrames(from, to, frameOpts);

  const outcomes = new Map<Policy, FrameOutcome[]>();
  const effects: Effect[] = [];
  for (const policy of POLICIES) {
    const list: FrameOutcome[] = [];
    for (const f of frames) {
      const o = evaluateFrame(f, to, policy, predict, mx.to.value);
      list.push(o);
      for (const e of effectsOf(f, o, to)) effects.push(e);
    }
    outcomes.set(policy, list);
  }

  const statics = [
    ...staticFindings(from, to, uses, names, mx),
    ...sigaltstackFindings(from, to, names, input.altstacks),
    ...(input.inputFindings ?? []),
  ];

  const { findings, byPolicySeverities } = groupEffects(effects, selected, from, to, names, mx);
  findings.push(...statics);
  findings.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      (a.bit ?? -1) - (b.bit ?? -1) ||
      a.code.localeCompare(b.code),
  );

  const staticSev = statics.map((s) => s.severity);
  const policies = {} as Record<Policy, PolicyResult>;
  for (const p of POLICIES) {
    policies[p] = {
      ...verdictOf([...byPolicySeverities.get(p)!, ...staticSev]),
      selected: selected.includes(p),
      kernels: POLICY_KERNELS[p],
      frames: outcomes.get(p)!,
    };
  }
  const overall = verdictOf(findings.map((f) => f.severity));

  const criuIn = input.criu;
  const cv = criuIn ? criuCheck(criuIn.from, criuIn.to) : undefined;
  const criu = cv ?? criuCheck(criuCpuinfo(from), criuCpuinfo(to));
  const ours = overall.exitCode !== 3;
  const assessment =
    criu.wouldAccept === ours ? "agrees" : criu.wouldAccept ? "accepts-wrongly" : "refuses-needlessly";

  return {
    ...overall,
    from: summary(from, names.from, mx.from),
    to: summary(to, names.to, mx.to),
    uses,
    evaluated: selected,
    findings,
    policies,
    criu: { ...criu, assessment },
    frames: frames.map((f) => ({
      id: f.id,
      style: f.style,
      description: f.description,
      xstateSize: f.xstateSize,
    })),
  };
}

function summary(l: XsaveLayout, name: string, mxcsrMask: MxcsrMask): HostSummary {
  const s: HostSummary = {
    name,
    vendor: l.profile.vendor,
    xsave: l.xsave,
    xcr0: l.xcr0,
    userFeatures: l.userFeatures,
    userSize: l.userSize,
    mxcsrMask: mxcsrMask.value,
    frameBytes: frameStack(l).frameBytes,
    atMinSigStkSz: frameStack(l).atMinSigStkSz,
  };
  if (mxcsrMask.estimated) s.mxcsrMaskEstimated = true;
  if (l.profile.model === null) s.cpu = describeCpu(l.profile);
  return s;
}
