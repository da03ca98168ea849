/**
 * From effects to findings: the effects of every frame under every policy are grouped by (code,
 * component, frame), a group's severity is lowered to a warning when some selected policy
 * restores its frame intact, frames showing the same problem under the same policies merge into
 * one finding, and each finding is worded for the two hosts.
 */
import { hex } from "../hex.ts";
import type { MxcsrMask } from "../mxcsr.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import { POLICY_KERNELS_SHORT } from "../sigreturn/policy.ts";
import { POLICIES, type Policy } from "../sigreturn/types.ts";
import { componentInfo, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { pkruKey0Words } from "../xsave/pkru.ts";
import type { Effect } from "./evaluate.ts";
import {
  FINDING_CODES,
  type Finding,
  type FindingCode,
  type FindingFacts,
  type FrameStyle,
  finding,
  hostSide,
  type Severity,
} from "./findings.ts";
import type { FrameCase } from "./frames.ts";

const STYLE_WORDS: Record<FrameStyle, string> = {
  kernel: "kernel-written frames",
  "kernel-altstack": "kernel-written frames on a sigaltstack",
  criu: "CRIU-restored thread state",
  "amx-restorer": "thread state restored with AMX permission (--amx)",
  "raw-copy": "raw-copied thread state (gVisor)",
  checkpoint: "frames found in the checkpoint",
  core: "frames found in the core",
  mxcsr: "frames with DAZ set in MXCSR",
};

/** For PKRU read from other bytes: what such a value does. */
function pkruWords(b: number | undefined): string {
  return b === XFEATURE.PKRU
    ? "; if those bytes set bit 0 or 1 (access- or write-disable for key 0) the task dies at its next memory access (SIGSEGV, SEGV_PKUERR)"
    : "";
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
  const fa = fx.bit !== undefined ? standardPlacement(from, fx.bit) : undefined;
  const fb = fx.bit !== undefined ? standardPlacement(to, fx.bit) : undefined;
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
      return `${where}: ${comp} is at offset ${fx.frame.placements.find((p) => p.bit === fx.bit)?.offset} in the frame but ${B} reads it at ${fb?.offset}: restored from the wrong bytes${pkruWords(fx.bit)}`;
    case "component_outside_frame":
      return `${where}: ${B} reads ${comp} at ${fb?.offset}..${(fb?.offset ?? 0) + (fb?.size ?? 0) - 1}, past the ${fx.frame.writtenBytes} bytes ${A} wrote (${A} has it at ${fa?.offset}): loaded from unrelated memory${pkruWords(fx.bit)}`;
    case "pkru_key0_locked":
      return `${where}: sigreturn restores the state, but ${pkruKey0Words(fx.outcome.pkru ?? 1)}`;
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

function policyPhrase(ps: Policy[]): string {
  return ps.map((p) => `${p} (${POLICY_KERNELS_SHORT[p]})`).join(", ");
}

export interface GroupedFindings {
  findings: Finding[];
  /** The severities each policy's effects reach (selected or not): its own verdict. */
  byPolicySeverities: Map<Policy, Severity[]>;
}

/** Groups the frame effects into findings under the selected policies. */
export function groupEffects(
  effects: Effect[],
  selected: readonly Policy[],
  from: XsaveLayout,
  to: XsaveLayout,
  names: { from: string; to: string },
  mx: { from: MxcsrMask; to: MxcsrMask },
): GroupedFindings {
  // Group effects by (code, component, frame): one finding each, with the policies it happens under.
  const groups = new Map<string, Effect[]>();
  for (const e of effects) {
    const k = `${e.code}|${e.bit ?? ""}|${e.frame.id}`;
    const g = groups.get(k);
    if (g) g.push(e);
    else groups.set(k, [e]);
  }
  const byPolicySeverities = new Map<Policy, Severity[]>(POLICIES.map((p) => [p, []]));
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
    const partial = hit.length < selected.length;
    let message = describeEffect(first.code, first, from, to, names, mx);
    if (fr.length > 1)
      message += ` (also ${fr
        .slice(1)
        .map((f) => STYLE_WORDS[f.style])
        .join(", ")})`;
    if (partial) message += ` (only under ${policyPhrase(hit)})`;
    const facts: FindingFacts = {
      severity,
      message,
      policies: hit,
      frames: fr.map((x) => x.id),
      style: first.frame.style,
      reason: first.outcome.reason,
      ...(first.bit !== undefined ? { component: componentInfo(first.bit).name, bit: first.bit } : {}),
      from: hostSide(from, first.bit),
      to: hostSide(to, first.bit),
      ...(first.bits ? { bits: first.bits } : {}),
      ...(first.code === "component_outside_frame" ? { frameEnd: first.frame.writtenBytes } : {}),
    };
    findings.push(finding(first.code, facts));
  }
  return { findings, byPolicySeverities };
}
