/**
 * One frame under one kernel policy: the sigreturn model says what the destination does with the
 * frame's bytes, and each live component gets its fate by comparing where its writer put it with
 * where the destination reads it from. The outcome's effects are the seeds of the findings
 * (grouped and worded in group.ts).
 */
import { bit, bitsOf } from "../hex.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import type { Policy, PredictInput, Prediction } from "../sigreturn/types.ts";
import { componentInfo, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { FindingCode, FrameStyle } from "./findings.ts";
import type { FrameCase } from "./frames.ts";

export type Predictor = (input: PredictInput) => Prediction;

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
  /** The PKRU the frame loads, where it locks protection key 0 (reason pkru-locks-key0). */
  pkru?: number;
}

/** The destination loads PKRU from where the frame's writer put the process's PKRU. */
function pkruAsWritten(frame: FrameCase, pred: Prediction, to: XsaveLayout): boolean {
  const placed = frame.placements.find((p) => p.bit === XFEATURE.PKRU);
  const read = pred.components.find((c) => c.bit === XFEATURE.PKRU);
  const at = read?.offset ?? standardPlacement(to, XFEATURE.PKRU)?.offset;
  return placed !== undefined && at === placed.offset;
}

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
  // A PKRU locking key 0 kills the task only if it is the process's own PKRU; read from other
  // bytes (misplaced, past the frame) it is whatever those bytes are: the misplacement is the finding.
  const pkruGarbage = pred.reason === "pkru-locks-key0" && !pkruAsWritten(frame, pred, to);
  const fatal = pred.signal !== null && !pkruGarbage;
  const fates: ComponentFate[] = [];
  for (const p of frame.placements) {
    const name = componentInfo(p.bit).name;
    const f: ComponentFate = { bit: p.bit, name, fate: "ok", expectedOffset: p.offset };
    const out = pred.components.find((c) => c.bit === p.bit);
    if (fatal) f.fate = "fault";
    else if (!out) f.fate = "missing";
    else if (out.result === "init") f.fate = "lost";
    else {
      const at = out.offset ?? standardPlacement(to, p.bit)?.offset ?? p.offset;
      f.readFrom = at;
      const size = standardPlacement(to, p.bit)?.size ?? p.size;
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
    signal: fatal ? pred.signal : null,
    ...(fatal && pred.pkru !== undefined ? { pkru: pred.pkru } : {}),
    reason: pred.reason,
    detail: pred.detail,
    source: pred.source,
    components: fates,
    intact: fates.every((f) => f.fate === "ok"),
  };
  return o;
}

export interface Effect {
  code: FindingCode;
  bit?: number;
  frame: FrameCase;
  policy: Policy;
  outcome: FrameOutcome;
  bits?: number[];
}

/** Turns one frame outcome into effects (finding seeds). */
export function effectsOf(frame: FrameCase, o: FrameOutcome, to: XsaveLayout): Effect[] {
  const out: Effect[] = [];
  const e = (code: FindingCode, extra: Partial<Effect> = {}) =>
    out.push({ code, frame, policy: o.policy, outcome: o, ...extra });
  if (o.path === "refused") {
    e("raw_copy_refused", { bits: frame.refused ?? [] });
    return out;
  }
  for (const c of o.components) if (c.fate === "not-carried") e("criu_not_saved", { bit: c.bit });
  if (o.signal !== null && o.reason === "pkru-locks-key0") {
    e("pkru_key0_locked", { bit: XFEATURE.PKRU });
    return out;
  }
  if (o.signal !== null) {
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
  for (const c of o.components) {
    if (c.fate === "misplaced") e("component_misplaced", { bit: c.bit });
    else if (c.fate === "outside") e("component_outside_frame", { bit: c.bit });
    else if (c.fate === "missing") e("component_dropped", { bit: c.bit });
    else if (c.fate === "lost" && c.bit >= 2) e("component_reset", { bit: c.bit });
  }
  return out;
}
