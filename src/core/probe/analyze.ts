/**
 * From what the helper saw to a verdict: each case's registers are classified region by region,
 * the same edited frame goes through the sigreturn model under every policy, the model's
 * per-component answer is turned into the same letters, and the policy whose predictions match
 * every case is the one this kernel implements.
 */
import type { Policy, PredictInput, Prediction } from "../sigreturn/types.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { FrameEdit, ProbeCase } from "./cases.ts";
import { type ClassifyContext, classify, simulate } from "./classify.ts";
import type { Patterns } from "./patterns.ts";
import type { CaseRun, FrameSeen } from "./protocol.ts";
import type { Isa } from "./regions.ts";

export const PROBE_POLICIES: readonly Policy[] = ["classic", "refined", "legacy"];

export interface PolicyPrediction {
  /** Region letters, or "SIGSEGV". */
  letters: string;
  path: Prediction["path"];
  reason: string;
  detail: string;
}

export interface CaseResult {
  id: string;
  description: string;
  /** Why the case did not run, where it did not. */
  skipped?: string;
  /**
   * Region letters, "SIGSEGV"/"SIGBUS" (or another signal), "timeout", "exit N", or "crashed" (the
   * runtime running the helper died, not the case's task).
   */
  observed?: string;
  predictions?: Record<Policy, PolicyPrediction>;
  /** The helper's final frame bytes equal the delivered frame with the case's edit applied. */
  editApplied?: boolean;
  /** Facts for the reader: si_code, nested frame, errors. */
  notes: string[];
  run?: CaseRun;
}

export interface AnalyzeContext {
  layout: XsaveLayout;
  isa: Isa;
  kBits: number;
  patterns: Patterns;
  mxcsrMask?: number;
  xsavec: boolean;
  predict: (input: PredictInput) => Prediction;
  /** The helper's fpstate limit (its relocation area is this plus a page). */
  fpstateLimit?: number;
  /**
   * A frame delivered in another case of the same run, for a case whose runtime died before it
   * reported its own: every case loads the same registers, so the frames differ in place only.
   */
  standIn?: { id: string; frame: FrameSeen };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bytes the helper should have handed to sigreturn: delivered frame + edit. */
export function expectedFinalBytes(delivered: Uint8Array, edit: FrameEdit, readable: number): Uint8Array {
  let end: number;
  let out: Uint8Array;
  if (edit.place.kind === "copy" || edit.place.kind === "guard") {
    const n = Math.min(edit.copyLen ?? delivered.length, delivered.length, readable);
    end = n;
    for (const w of edit.writes) end = Math.max(end, w.offset + w.bytes.length);
    out = new Uint8Array(end);
    out.set(delivered.subarray(0, n));
  } else {
    end = delivered.length;
    for (const w of edit.writes) end = Math.max(end, w.offset + w.bytes.length);
    out = new Uint8Array(end);
    out.set(delivered);
  }
  for (const w of edit.writes) out.set(w.bytes, w.offset);
  return out;
}

function observedOf(run: CaseRun, cctx: ClassifyContext): string {
  if (run.outcome === "returned" && run.regs) return classify(run.regs, cctx);
  if (run.outcome === "killed") return run.signal ?? "killed";
  if (run.outcome === "timeout") return "timeout";
  if (run.outcome === "crashed") return "crashed";
  return `exit ${run.exitCode ?? "?"}`;
}

const PAGE = 4096;

/**
 * Where the edited fpstate sat and how many bytes were mapped from it: as the helper reported, or,
 * when the task died before it could (a nested signal whose sigreturn failed), as the edit says.
 */
function placement(
  c: ProbeCase,
  run: CaseRun,
  ctx: AnalyzeContext,
): { bytes: Uint8Array; address?: bigint; readable: number } | undefined {
  const p = c.edit.place;
  if (run.placed) {
    const out: { bytes: Uint8Array; address?: bigint; readable: number } = {
      bytes: run.placed.bytes,
      address: run.placed.address,
      readable: p.kind === "inplace" ? run.placed.bytes.length : run.placed.readable,
    };
    return out;
  }
  const delivered = run.delivered ?? ctx.standIn?.frame;
  if (!delivered) return undefined;
  const limit = ctx.fpstateLimit ?? 65536;
  const readable =
    p.kind === "inplace"
      ? delivered.bytes.length
      : p.kind === "guard"
        ? p.readable
        : p.kind === "copy"
          ? limit + PAGE - p.align
          : 0;
  const bytes = expectedFinalBytes(delivered.bytes, c.edit, readable);
  const address = p.kind === "inplace" ? delivered.address : p.kind === "copy" ? BigInt(p.align) : undefined;
  return address === undefined ? { bytes, readable } : { bytes, address, readable };
}

/** The model's input for the frame a case handed to sigreturn: same bytes, address and mapped length. */
export function caseInput(c: ProbeCase, run: CaseRun, ctx: AnalyzeContext, policy: Policy): PredictInput {
  const placed = c.edit.place.kind === "null" ? undefined : placement(c, run, ctx);
  const input: PredictInput = {
    fpstate: placed?.bytes ?? null,
    task: ctx.layout,
    policy,
    compactedForm: ctx.xsavec,
  };
  if (placed) {
    if (placed.address !== undefined) input.address = placed.address;
    input.readableBytes = placed.readable;
  }
  if (ctx.mxcsrMask !== undefined) input.mxcsrMask = ctx.mxcsrMask;
  return input;
}

/**
 * The start of a case's result: `run` is returned only when there is something to compare (the
 * case was not skipped by the plan or by the helper, and the helper reported it).
 */
export function startResult(c: ProbeCase, got: CaseRun | undefined): { r: CaseResult; run?: CaseRun } {
  const r: CaseResult = { id: c.id, description: c.description, notes: [] };
  if (c.skip) {
    r.skipped = c.skip;
    return { r };
  }
  if (!got) {
    r.observed = "missing";
    r.notes.push("the helper reported nothing for this case");
    return { r };
  }
  r.run = got;
  if (got.outcome === "skipped") {
    r.skipped = `the helper could not apply it: ${got.skip ?? "no reason given"}`;
    return { r };
  }
  return { r, run: got };
}

export function analyzeCase(c: ProbeCase, got: CaseRun | undefined, ctx: AnalyzeContext): CaseResult {
  const { r, run } = startResult(c, got);
  if (!run) return r;
  const isNull = c.edit.place.kind === "null";
  const placed = isNull ? undefined : placement(c, run, ctx);
  const finalBytes = placed?.bytes ?? null;
  const cctx: ClassifyContext = {
    isa: ctx.isa,
    kBits: ctx.kBits,
    layout: ctx.layout,
    patterns: ctx.patterns,
    frame: finalBytes,
  };
  r.observed = observedOf(run, cctx);
  if (run.error) r.notes.push(`helper: ${run.error}`);
  if (run.fault) r.notes.push(`${run.fault.signal} si_code ${run.fault.siCode}`);
  if (run.outcome === "crashed") r.notes.push(run.stderr ?? "the runtime died during this case");
  else if (run.stderr) {
    const lines = run.stderr
      .trim()
      .split("\n")
      .filter((l, i, a) => l.trim() && l !== a[i - 1]);
    r.notes.push(`stderr: ${lines.slice(0, 3).join(" | ")}`);
  }
  if (run.inner) {
    r.notes.push(
      `nested frame ${Number(run.delivered ? run.delivered.address - run.inner.address : 0n)} bytes below, xstate_bv 0x${(run.inner.xstateBv ?? 0n).toString(16)}, outer frame ${run.inner.outerIntact ? "intact" : "CHANGED"}`,
    );
  }
  const delivered = run.delivered ?? ctx.standIn?.frame;
  if (!delivered || (!isNull && !placed)) {
    r.notes.push("the helper did not report the frame");
    return r;
  }
  if (!run.delivered) {
    r.notes.push(
      `predicted with the frame delivered in case ${ctx.standIn!.id} and this case's edit: it did not report its own`,
    );
  }
  if (!isNull && run.placed && run.delivered) {
    const expected = expectedFinalBytes(run.delivered.bytes, c.edit, run.placed.readable);
    r.editApplied = equalBytes(expected, run.placed.bytes);
    if (!r.editApplied)
      r.notes.push("the frame handed to sigreturn is not the delivered frame with this edit");
  } else if (!isNull && run.delivered) {
    r.notes.push(
      "the task died before the helper reported the edited frame: predicted from the delivered frame and the edit",
    );
  }

  const predictions = {} as Record<Policy, PolicyPrediction>;
  for (const policy of PROBE_POLICIES) {
    const p = ctx.predict(caseInput(c, run, ctx, policy));
    const img = simulate(p, finalBytes, ctx.layout, ctx.isa);
    predictions[policy] = {
      letters: img ? classify(img, cctx) : (p.signal ?? "SIGSEGV"),
      path: p.path,
      reason: p.reason,
      detail: p.detail,
    };
  }
  r.predictions = predictions;
  return r;
}

/** Whether a case's observation equals the prediction under `policy` (and its edit was applied). */
export function matches(r: CaseResult, policy: Policy): boolean {
  if (r.skipped) return true;
  if (!r.predictions || r.editApplied === false) return false;
  return r.observed === r.predictions[policy].letters;
}

export interface Verdict {
  /** The one policy whose predictions match every case; `unknown` otherwise. */
  policy: Policy | "unknown";
  /** Mismatching cases against `policy`, or against the closest policy when unknown. */
  mismatches: number;
  /** The policy `match` is computed against. */
  comparedWith: Policy;
  /** Policies that match every case (more than one: the cases run do not separate them). */
  candidates: Policy[];
  /** Mismatching case ids per policy. */
  byPolicy: Record<Policy, string[]>;
}

export function verdict(results: readonly CaseResult[]): Verdict {
  const ran = results.filter((r) => !r.skipped);
  const byPolicy = {} as Record<Policy, string[]>;
  for (const p of PROBE_POLICIES) byPolicy[p] = ran.filter((r) => !matches(r, p)).map((r) => r.id);
  const candidates = PROBE_POLICIES.filter((p) => byPolicy[p].length === 0);
  let comparedWith: Policy = PROBE_POLICIES[0]!;
  for (const p of PROBE_POLICIES) if (byPolicy[p].length < byPolicy[comparedWith].length) comparedWith = p;
  const policy = candidates.length === 1 ? candidates[0]! : "unknown";
  return {
    policy,
    mismatches: ran.length === 0 ? 0 : byPolicy[comparedWith].length,
    comparedWith,
    candidates,
    byPolicy,
  };
}
