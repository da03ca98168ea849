/**
 * `check`: will the FPU/vector state of a process on host A come back intact on host B?
 *
 * The frames to evaluate are an input list (`CheckInput.frames`); without one, the representative
 * frames of `standardFrames()` are used. Each frame is handed to the sigreturn model once per
 * kernel policy; comparing where each live component was meant to be with where the model says
 * the destination reads it from gives the per-component fates, and those give the findings.
 * Layout-only facts (AMX permission, PKRU, glibc's cached size, MXCSR_MASK) are added beside.
 */
import { bit, bitsOf, hasBit, hex } from "../hex.ts";
import { type MxcsrMask, type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import { POLICIES, type Policy, type PredictInput, type Prediction } from "../sigreturn/types.ts";
import { componentInfo, MASK_FPSSE, XFEATURE } from "../xsave/components.ts";
import { standardSize, type XsaveLayout } from "../xsave/layout.ts";
import { type CriuCpuinfo, type CriuVerdict, criuCheck } from "./criu.ts";
import {
  FINDING_CODES,
  type Finding,
  type FindingCode,
  type FrameStyle,
  type HostSide,
  POLICY_KERNELS,
  POLICY_KERNELS_SHORT,
  type Severity,
  severityRank,
} from "./findings.ts";
import { type FrameCase, standardFrames } from "./frames.ts";

export type Predictor = (input: PredictInput) => Prediction;

/** Every policy, in age order. */
export const ALL_POLICIES: readonly Policy[] = POLICIES;

export type Fate = "ok" | "lost" | "misplaced" | "outside" | "missing" | "fault" | "not-carried" | "refused";

export interface ComponentFate {
  bit: number;
  name: string;
  fate: Fate;
  /** Where the writer put it (-1: nowhere, the writer could not place it). */
  expectedOffset: number;
  /** Where the destination read it from, when it was loaded from the frame. */
  readFrom?: number;
}

export interface FrameOutcome {
  frame: string;
  style: FrameStyle;
  policy: Policy;
  path: Prediction["path"] | "refused";
  signal: null | "SIGSEGV";
  reason: string;
  detail: string;
  source?: string;
  xstateSize: number;
  components: ComponentFate[];
  /** Every live component came back from where its writer put it. */
  intact: boolean;
}

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

/** glibc's STATE_SAVE_MASK (sysdeps/x86/sysdep.h): what _dl_runtime_resolve saves. */
const GLIBC_SAVE_MASK = bit(1) | bit(2) | bit(3) | bit(5) | bit(6) | bit(7) | bit(XFEATURE.APX);

const compOf = standardPlacement;

/** Runs one frame through the model under one policy and compares with the writer's intent. */
export function evaluateFrame(
  frame: FrameCase,
  to: XsaveLayout,
  policy: Policy,
  predict: Predictor,
  toMxcsrMask?: number,
): FrameOutcome {
  const base = { frame: frame.id, style: frame.style, policy, xstateSize: frame.xstateSize };
  if (frame.refused?.length) {
    return {
      ...base,
      path: "refused",
      signal: null,
      reason: "restorer-refuses",
      detail: `the restorer refuses state with xstate_bv bits ${frame.refused.join(", ")}, which the destination lacks`,
      components: frame.placements.map((p) => ({
        bit: p.bit,
        name: componentInfo(p.bit).name,
        fate: frame.refused!.includes(p.bit) ? "refused" : "lost",
        expectedOffset: p.offset,
      })),
      intact: false,
    };
  }
  const input: PredictInput = { fpstate: frame.fpstate, task: to, policy };
  if (frame.address !== undefined) input.address = frame.address;
  if (frame.readableBytes !== undefined) input.readableBytes = frame.readableBytes;
  if (toMxcsrMask !== undefined) input.mxcsrMask = toMxcsrMask;
  const pred = predict(input);
  const fates: ComponentFate[] = [];
  for (const p of frame.placements) {
    const name = componentInfo(p.bit).name;
    const f: ComponentFate = { bit: p.bit, name, fate: "ok", expectedOffset: p.offset };
    const out = pred.components.find((c) => c.bit === p.bit);
    if (pred.path === "fault") f.fate = "fault";
    else if (!out) f.fate = "missing";
    else if (out.result === "init") f.fate = "lost";
    else {
      const at = out.offset ?? compOf(to, p.bit)?.offset ?? p.offset;
      f.readFrom = at;
      const size = compOf(to, p.bit)?.size ?? p.size;
      if (at === p.offset && size === p.size) f.fate = "ok";
      else if (at + size > frame.writtenBytes) f.fate = "outside";
      else f.fate = "misplaced";
    }
    fates.push(f);
  }
  for (const b of frame.notCarried ?? []) {
    fates.push({ bit: b, name: componentInfo(b).name, fate: "not-carried", expectedOffset: -1 });
  }
  const o: FrameOutcome = {
    ...base,
    path: pred.path,
    signal: pred.signal,
    reason: pred.reason,
    detail: pred.detail,
    source: pred.source,
    components: fates,
    intact: fates.every((f) => f.fate === "ok"),
  };
  return o;
}

interface Effect {
  code: FindingCode;
  bit?: number;
  frame: FrameCase;
  policy: Policy;
  outcome: FrameOutcome;
  bits?: number[];
}

/** Turns one frame outcome into effects (finding seeds). */
function effectsOf(frame: FrameCase, o: FrameOutcome, from: XsaveLayout, to: XsaveLayout): Effect[] {
  const out: Effect[] = [];
  const e = (code: FindingCode, extra: Partial<Effect> = {}) =>
    out.push({ code, frame, policy: o.policy, outcome: o, ...extra });
  if (o.path === "refused") {
    e("raw_copy_refused", { bits: frame.refused ?? [] });
    return out;
  }
  for (const c of o.components) if (c.fate === "not-carried") e("criu_not_saved", { bit: c.bit });
  if (o.path === "fault") {
    const bv = frame.placements.reduce((m, p) => m | bit(p.bit), 0n);
    const outside = bitsOf(bv & ~to.xcr0);
    if (frame.style === "mxcsr") e("mxcsr_rejected");
    else if (outside.length && frame.style !== "criu") e("xstate_bv_unsupported", { bits: outside });
    else e("sigreturn_fault");
    return out;
  }
  const lostExt = o.components.filter((c) => c.bit >= 2 && (c.fate === "lost" || c.fate === "missing"));
  if (o.path === "fxrstor-fallback") {
    if (lostExt.length === 0) return out;
    const u = to.userSize;
    if (frame.xstateSize > u) e("xstate_size_larger");
    else if (frame.xstateSize < u) e("xstate_size_smaller");
    else e("fx_only_fallback");
    return out;
  }
  void from;
  for (const c of o.components) {
    if (c.fate === "misplaced") e("component_misplaced", { bit: c.bit });
    else if (c.fate === "outside") e("component_outside_frame", { bit: c.bit });
    else if (c.fate === "missing") e("component_dropped", { bit: c.bit });
    else if (c.fate === "lost" && c.bit >= 2) e("component_reset", { bit: c.bit });
  }
  return out;
}

const STYLE_WORDS: Record<FrameStyle, string> = {
  kernel: "kernel-written frames",
  "kernel-altstack": "kernel-written frames on a sigaltstack",
  criu: "CRIU-restored thread state",
  "raw-copy": "raw-copied thread state (gVisor)",
  checkpoint: "frames found in the checkpoint",
  core: "frames found in the core",
  mxcsr: "frames with DAZ set in MXCSR",
};

function side(l: XsaveLayout, b?: number): HostSide {
  if (b === undefined) return { userSize: l.userSize };
  const c = compOf(l, b);
  const present = b < 2 || hasBit(l.userFeatures, b);
  return c && present ? { offset: c.offset, size: c.size, present } : { present: false };
}

function describeEffect(
  code: FindingCode,
  fx: Effect,
  from: XsaveLayout,
  to: XsaveLayout,
  names: { from: string; to: string },
  mx: { from: MxcsrMask; to: MxcsrMask },
): string {
  const comp = fx.bit !== undefined ? componentInfo(fx.bit).name : "";
  const where = STYLE_WORDS[fx.frame.style];
  const A = names.from;
  const B = names.to;
  const fa = fx.bit !== undefined ? compOf(from, fx.bit) : undefined;
  const fb = fx.bit !== undefined ? compOf(to, fx.bit) : undefined;
  const lost = fx.outcome.components
    .filter((c) => c.bit >= 2 && c.fate !== "ok")
    .map((c) => c.name)
    .join(", ");
  switch (code) {
    case "xstate_size_larger":
      return `${where}: xstate_size ${fx.frame.xstateSize} > ${B}'s user_size ${to.userSize}: sigreturn falls back to FX-only, ${lost} reset to init`;
    case "xstate_size_smaller":
      return `${where}: xstate_size ${fx.frame.xstateSize} < ${B}'s user_size ${to.userSize}: magic2 is looked up at ${to.userSize}, sigreturn falls back to FX-only, ${lost} reset to init`;
    case "fx_only_fallback":
      return `${where}: sigreturn falls back to FX-only (${fx.outcome.reason}), ${lost} reset to init`;
    case "sigreturn_fault":
      return `${where}: sigreturn fails with SIGSEGV (${fx.outcome.reason}): ${fx.outcome.detail}`;
    case "xstate_bv_unsupported":
      return `${where}: xstate_bv names ${(fx.bits ?? []).map((b) => componentInfo(b).name).join(", ")}, outside ${B}'s XCR0 ${hex(to.xcr0)}: XRSTOR #GP, SIGSEGV`;
    case "component_misplaced":
      return `${where}: ${comp} is at offset ${fx.frame.placements.find((p) => p.bit === fx.bit)?.offset} in the frame but ${B} reads it at ${fb?.offset}: restored from the wrong bytes`;
    case "component_outside_frame":
      return `${where}: ${B} reads ${comp} at ${fb?.offset}..${(fb?.offset ?? 0) + (fb?.size ?? 0) - 1}, past the ${fx.frame.writtenBytes} bytes ${A} wrote (${A} has it at ${fa?.offset}): loaded from unrelated memory`;
    case "component_dropped":
      return `${where}: ${B} has no ${comp}: its state is silently dropped`;
    case "component_reset":
      return `${where}: ${comp} is reset to init (${fx.outcome.reason})`;
    case "raw_copy_refused":
      return `${where}: the restorer refuses xstate_bv bits ${(fx.bits ?? []).map((b) => componentInfo(b).name).join(", ")} that ${B} lacks`;
    case "criu_not_saved":
      return `${where}: CRIU's image has no field for ${comp}: its state is lost`;
    case "mxcsr_rejected":
      return `${where}: ${A}'s MXCSR_MASK ${maskWords(mx.from)} accepts DAZ (bit 6) but ${B}'s ${maskWords(mx.to)} does not: sigreturn of such a frame is SIGSEGV`;
    default:
      return `${where}: ${FINDING_CODES[code].title}`;
  }
}

function maskWords(m: MxcsrMask): string {
  return m.estimated ? `${hex(m.value)} (${m.basis})` : hex(m.value);
}

function verdictOf(severities: Severity[]): Verdict {
  const worst = Math.max(-1, ...severities.map(severityRank));
  if (worst >= 2) return { verdict: "incompatible", exitCode: 3 };
  if (worst === 1) return { verdict: "warnings", exitCode: 1 };
  return { verdict: "compatible", exitCode: 0 };
}

function policyPhrase(ps: Policy[]): string {
  return ps.map((p) => `${p} (${POLICY_KERNELS_SHORT[p]})`).join(", ");
}

/** Layout-only findings: they do not depend on a frame or a kernel policy. */
export function staticFindings(
  from: XsaveLayout,
  to: XsaveLayout,
  uses: bigint,
  names: { from: string; to: string },
  mx: { from: MxcsrMask; to: MxcsrMask },
): Finding[] {
  const out: Finding[] = [];
  const A = names.from;
  const B = names.to;
  const make = <C extends FindingCode>(code: C, message: string, extra: Partial<Finding> = {}): void => {
    const info = FINDING_CODES[code];
    out.push({ code, severity: info.severity, message, hint: info.hint, ...extra } as Finding);
  };
  for (const b of bitsOf(from.userFeatures & ~uses)) {
    if (b < 2 || b === XFEATURE.XTILECFG || b === XFEATURE.XTILEDATA) continue;
    if (hasBit(to.userFeatures, b)) continue;
    const name = componentInfo(b).name;
    make(
      "component_unused_missing",
      `${A} enables ${name} but ${B} does not have it; processes are taken not to use it${b === XFEATURE.BNDREGS || b === XFEATURE.BNDCSR ? " (Linux has no MPX user ABI since v5.6)" : ""}`,
      { component: name, bit: b, from: side(from, b), to: side(to, b) },
    );
  }
  if (hasBit(from.xcr0, XFEATURE.XTILEDATA)) {
    if (!hasBit(to.xcr0, XFEATURE.XTILEDATA)) {
      if (!hasBit(uses, XFEATURE.XTILEDATA))
        make(
          "amx_unavailable",
          `${A} offers AMX (XTILEDATA) but ${B} does not: a process that used AMX loses its tile state`,
          { component: "XTILEDATA", bit: XFEATURE.XTILEDATA, from: side(from, 18), to: side(to, 18) },
        );
    } else {
      make(
        "amx_permission",
        `AMX permission (ARCH_REQ_XCOMP_PERM) is per process and not carried to ${B}; a thread that used AMX has user_size ${from.maxUserSize} instead of ${from.userSize}`,
        { component: "XTILEDATA", bit: XFEATURE.XTILEDATA },
      );
    }
  }
  if (!hasBit(from.userFeatures, XFEATURE.PKRU) && hasBit(to.userFeatures, XFEATURE.PKRU)) {
    make(
      "pkru_init",
      `${A} has no PKRU; on ${B} it is loaded as 0 (all protection keys open) rather than Linux's default 0x55555554`,
      { component: "PKRU", bit: XFEATURE.PKRU, from: side(from, 9), to: side(to, 9) },
    );
  }
  if (from.xsave && to.xsave) {
    const ga = standardSize(from, from.xcr0 & GLIBC_SAVE_MASK);
    const gb = standardSize(to, to.xcr0 & GLIBC_SAVE_MASK);
    if (gb > ga) {
      make(
        "glibc_xsave_size",
        `glibc sized its lazy-binding XSAVE area on ${A} for ${ga} bytes; on ${B} XSAVE of the same mask writes ${gb}`,
        { from: { size: ga }, to: { size: gb } },
      );
    }
  }
  if (mx.from.estimated !== mx.to.estimated) {
    const [est, name, other, otherName] = mx.to.estimated ? [mx.to, B, mx.from, A] : [mx.from, A, mx.to, B];
    make(
      "mxcsr_mask_estimated",
      `${name}'s MXCSR_MASK is not measured: ${hex(est.value)}, ${est.basis}; ${otherName}'s is ${hex(other.value)} (${other.basis})`,
      { from: { mxcsrMask: mx.from.value }, to: { mxcsrMask: mx.to.value } },
    );
  }
  return out;
}

/** The whole check. Pure; the sigreturn model is passed in. */
export function checkCompat(input: CheckInput): CheckResult {
  const { from, to, predict } = input;
  const names = input.names ?? { from: from.profile.name, to: to.profile.name };
  const selected = input.policies && input.policies.length > 0 ? input.policies : [...ALL_POLICIES];
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
  for (const policy of ALL_POLICIES) {
    const list: FrameOutcome[] = [];
    for (const f of frames) {
      const o = evaluateFrame(f, to, policy, predict, mx.to.value);
      list.push(o);
      for (const e of effectsOf(f, o, from, to)) effects.push(e);
    }
    outcomes.set(policy, list);
  }

  const statics = staticFindings(from, to, uses, names, mx);

  // Group effects by (code, component, frame): one finding each, with the policies it happens under.
  const groups = new Map<string, Effect[]>();
  for (const e of effects) {
    const k = `${e.code}|${e.bit ?? ""}|${e.frame.id}`;
    const g = groups.get(k);
    if (g) g.push(e);
    else groups.set(k, [e]);
  }
  const byPolicySeverities = new Map<Policy, Severity[]>(ALL_POLICIES.map((p) => [p, []]));
  // A frame is broken under a policy when some error-level effect hits it there. An effect is
  // lowered to a warning only when some selected policy restores its frame intact: a frame lost
  // one way under one policy and another way under the next is an error.
  const broken = new Set(
    effects.filter((e) => FINDING_CODES[e.code].severity === "error").map((e) => `${e.frame.id}|${e.policy}`),
  );
  // Then frames that show the same problem under the same policies merge into one finding.
  const merged = new Map<
    string,
    { effects: Effect[]; frames: FrameCase[]; hit: Policy[]; severity: Severity }
  >();
  for (const g of groups.values()) {
    const first = g[0]!;
    const ps = [...new Set(g.map((e) => e.policy))];
    for (const p of ps) byPolicySeverities.get(p)!.push(FINDING_CODES[first.code].severity);
    const hit = selected.filter((p) => ps.includes(p));
    if (hit.length === 0) continue;
    let severity: Severity = FINDING_CODES[first.code].severity;
    if (severity === "error" && selected.some((p) => !broken.has(`${first.frame.id}|${p}`)))
      severity = "warning";
    const k = `${first.code}|${first.bit ?? ""}|${hit.join(",")}|${severity}`;
    const m = merged.get(k);
    if (m) m.frames.push(first.frame);
    else merged.set(k, { effects: g, frames: [first.frame], hit, severity });
  }
  const findings: Finding[] = [];
  for (const { effects: g, frames: fr, hit, severity } of merged.values()) {
    const first = g.find((e) => hit.includes(e.policy)) ?? g[0]!;
    const info = FINDING_CODES[first.code];
    const partial = hit.length < selected.length;
    let message = describeEffect(first.code, first, from, to, names, mx);
    if (fr.length > 1)
      message += ` (also ${fr
        .slice(1)
        .map((f) => STYLE_WORDS[f.style])
        .join(", ")})`;
    if (partial) message += ` (only under ${policyPhrase(hit)})`;
    const f = {
      code: first.code,
      severity,
      message,
      hint: info.hint,
      policies: hit,
      frames: fr.map((x) => x.id),
      style: first.frame.style,
      reason: first.outcome.reason,
    } as Finding;
    if (first.bit !== undefined) {
      f.component = componentInfo(first.bit).name;
      f.bit = first.bit;
      f.from = side(from, first.bit);
      f.to = side(to, first.bit);
    } else {
      f.from = { userSize: from.userSize };
      f.to = { userSize: to.userSize };
    }
    if (first.bits) (f as { bits: number[] }).bits = first.bits;
    if (f.code === "component_outside_frame") f.frameEnd = first.frame.writtenBytes;
    findings.push(f);
  }
  findings.push(...statics);
  findings.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      (a.bit ?? -1) - (b.bit ?? -1) ||
      a.code.localeCompare(b.code),
  );

  const staticSev = statics.map((s) => s.severity);
  const policies = {} as Record<Policy, PolicyResult>;
  for (const p of ALL_POLICIES) {
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
  const criu = cv ?? criuCheck(fallbackCriu(from), fallbackCriu(to));
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

function fallbackCriu(l: XsaveLayout): CriuCpuinfo {
  return {
    fpu: true,
    fxsr: true,
    osxsave: l.xsave,
    xsaves: false,
    xfeaturesMask: l.xsave ? l.xcr0 & 0x2ffn : 0n,
    xsaveSize: l.xsave ? l.maxUserSize : 0,
    xsaveSizeMax: l.xsave ? l.maxSize : 0,
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
  };
  if (mxcsrMask.estimated) s.mxcsrMaskEstimated = true;
  return s;
}
