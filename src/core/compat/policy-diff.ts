/**
 * `policy-diff`: for a kernel developer weighing a change to the sigreturn check. Over a set of
 * representative frames (the kernel's own frame on each host, CRIU-style trimmed frames, every
 * cross-host pair, and the probe's edge cases), every frame whose outcome differs between two
 * policies, grouped by cause, with the smallest example of each group.
 */
import { hasBit } from "../hex.ts";
import { resolveMxcsrMask } from "../mxcsr.ts";
import { CRIU_COMPONENTS } from "../sigframe/build.ts";
import type { Policy, Prediction } from "../sigreturn/types.ts";
import { FP_XSTATE_MAGIC1, MASK_FPSSE, SW_BYTES_OFFSET, XSAVE_HDR_OFFSET } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { Predictor } from "./evaluate.ts";
import { criuFrame, kernelFrame, rawCopyFrame } from "./frames.ts";
import { groupHosts, type MatrixHost } from "./matrix.ts";

export interface DiffFrame {
  id: string;
  /** Which family of frames it comes from. */
  kind: "kernel" | "criu" | "cross-kernel" | "cross-criu" | "cross-raw-copy" | "edge";
  description: string;
  /** Host whose task receives it. */
  task: string;
  fpstate: Uint8Array | null;
  readableBytes?: number;
  xstateSize: number;
}

export interface DiffGroup {
  /** Stable key: size relation and both outcomes. */
  cause: string;
  /** One line for humans. */
  title: string;
  count: number;
  /** A few frame ids; `count` has the total. */
  frames: string[];
  kinds: Record<string, number>;
  example: {
    frame: DiffFrame;
    p: Pick<Prediction, "path" | "signal" | "reason" | "detail">;
    q: Pick<Prediction, "path" | "signal" | "reason" | "detail">;
    lostUnderP: string[];
    lostUnderQ: string[];
  };
}

export interface PolicyDiffResult {
  p: Policy;
  q: Policy;
  /** Frames evaluated, and how many of them differ. */
  total: number;
  differing: number;
  groups: DiffGroup[];
  /** Distinct layouts the frames came from. */
  layouts: number;
}

function outcomeKey(p: Prediction): string {
  return p.path === "xrstor" && !p.signal ? "xrstor" : `${p.path}(${p.reason})`;
}

function same(a: Prediction, b: Prediction): boolean {
  if (a.path !== b.path || a.signal !== b.signal || a.mxcsr !== b.mxcsr) return false;
  if (a.components.length !== b.components.length) return false;
  for (let i = 0; i < a.components.length; i++) {
    const x = a.components[i]!;
    const y = b.components[i]!;
    if (x.bit !== y.bit || x.result !== y.result || x.offset !== y.offset) return false;
  }
  return true;
}

/**
 * What the frame carried that does not come back (the model's `lost`: components init in the
 * frame, XSTATE_BV clear, are never lost); under SIGSEGV, the signal.
 */
function lostOf(p: Prediction): string[] {
  return p.signal ? ["(SIGSEGV)"] : p.lost;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The probe's frame edits (research: 37 cases on a real kernel), applied to a host's own frame. */
function edgeCases(name: string, l: XsaveLayout): DiffFrame[] {
  if (!l.xsave) return [];
  const out: DiffFrame[] = [];
  const base = () => kernelFrame(l, l, { uses: l.userFeatures });
  const add = (id: string, description: string, edit: (b: Uint8Array) => number, readable?: number) => {
    const f = base();
    const bytes = f.fpstate.slice();
    const xs = edit(bytes);
    const d: DiffFrame = {
      id: `${name}/edge/${id}`,
      kind: "edge",
      description,
      task: name,
      fpstate: bytes,
      xstateSize: xs,
    };
    if (readable !== undefined) d.readableBytes = readable;
    out.push(d);
  };
  const U = l.userSize;
  const setSw = (b: Uint8Array, xs: number, ext: number, xf?: bigint) => {
    const v = dv(b);
    v.setUint32(SW_BYTES_OFFSET + 4, ext, true);
    v.setUint32(SW_BYTES_OFFSET + 16, xs, true);
    if (xf !== undefined) v.setBigUint64(SW_BYTES_OFFSET + 8, xf, true);
  };
  const magic2 = (b: Uint8Array, at: number) => dv(b).setUint32(at, 0x46505845, true);
  add("magic2-corrupt", "magic2 corrupted", (b) => {
    dv(b).setUint32(U, 0, true);
    return U;
  });
  add("magic1-corrupt", "magic1 corrupted", (b) => {
    dv(b).setUint32(SW_BYTES_OFFSET, FP_XSTATE_MAGIC1 ^ 1, true);
    return U;
  });
  add("ext-below-xstate", "extended_size = xstate_size - 4", (b) => {
    setSw(b, U, U - 4);
    return U;
  });
  add("ext-below-xstate-nosse", "extended_size = xstate_size - 4 and SSE cleared in xstate_bv", (b) => {
    setSw(b, U, U - 4);
    const v = dv(b);
    v.setBigUint64(XSAVE_HDR_OFFSET, v.getBigUint64(XSAVE_HDR_OFFSET, true) & ~2n, true);
    return U;
  });
  add("xstate-below-min", "xstate_size = 572, magic2 there", (b) => {
    setSw(b, 572, 576);
    dv(b).setUint32(U, 0, true);
    magic2(b, 572);
    return 572;
  });
  if (U > 832 && hasBit(l.userFeatures, 2)) {
    // An AVX-only frame: xstate_size 832, xfeatures = xstate_bv = 0x7, nothing at user_size.
    const avxOnly = (b: Uint8Array, magic2At: number | null) => {
      setSw(b, 832, 836, 7n);
      dv(b).setBigUint64(XSAVE_HDR_OFFSET, 7n, true);
      if (magic2At !== null) {
        dv(b).setUint32(U, 0, true);
        magic2(b, magic2At);
      }
      return 832;
    };
    add(
      "avx-only",
      "AVX-only frame: xstate_size 832, magic2 moved to 832, xfeatures = xstate_bv = 0x7",
      (b) => avxOnly(b, 832),
    );
    add(
      "avx-only-tight",
      "AVX-only frame (xstate_size 832) with nothing mapped past its magic2",
      (b) => avxOnly(b, 832),
      896,
    );
    add("magic2-at-user-size-only", "xstate_size 832 but magic2 only at user_size", (b) => avxOnly(b, null));
  }
  add("xstate-above-user", "xstate_size = user_size + 64, magic2 there", (b) => {
    setSw(b, U + 64, U + 68);
    dv(b).setUint32(U, 0, true);
    if (U + 68 <= b.length) magic2(b, U + 64);
    return U + 64;
  });
  add(
    "magic2-unmapped",
    "magic2 at xstate_size on an unmapped page (nothing mapped past user_size)",
    () => U,
    U,
  );
  add("ext-equal", "extended_size = xstate_size", (b) => {
    setSw(b, U, U);
    return U;
  });
  add("xfeatures-fpsse", "sw xfeatures = 0x3", (b) => {
    dv(b).setBigUint64(SW_BYTES_OFFSET + 8, MASK_FPSSE, true);
    return U;
  });
  add("xstate-bv-bit62", "xstate_bv |= bit 62 (reserved)", (b) => {
    const v = dv(b);
    v.setBigUint64(XSAVE_HDR_OFFSET, v.getBigUint64(XSAVE_HDR_OFFSET, true) | (1n << 62n), true);
    return U;
  });
  add("mxcsr-bit31", "MXCSR bit 31 set", (b) => {
    dv(b).setUint32(24, 0x80001f80, true);
    return U;
  });
  out.push({
    id: `${name}/edge/null`,
    kind: "edge",
    description: "NULL fpstate",
    task: name,
    fpstate: null,
    xstateSize: 0,
  });
  return out;
}

/** Frames for the policy comparison over `hosts` (grouped by identical layout first). */
export function diffFrames(hosts: MatrixHost[]): {
  frames: DiffFrame[];
  tasks: Map<string, XsaveLayout>;
  /** The receiving CPU's MXCSR_MASK of each task (measured, or estimated). */
  masks: Map<string, number>;
  layouts: number;
} {
  const { reps } = groupHosts(hosts);
  const frames: DiffFrame[] = [];
  const tasks = new Map<string, XsaveLayout>();
  const masks = new Map<string, number>();
  for (const h of reps) {
    tasks.set(h.name, h.layout);
    masks.set(h.name, resolveMxcsrMask(h.mxcsrMask).value);
  }
  for (const a of reps) {
    const l = a.layout;
    const k = kernelFrame(l, l, { uses: l.userFeatures });
    frames.push({
      id: `${a.name}/kernel`,
      kind: "kernel",
      description: `the kernel's own frame on ${a.name}`,
      task: a.name,
      fpstate: k.fpstate,
      xstateSize: k.xstateSize,
    });
    // CRIU trims xstate_size to the last component in use: one frame per "last used" component.
    let uses = MASK_FPSSE;
    for (const b of [0, ...CRIU_COMPONENTS]) {
      if (b > 0) {
        if (!hasBit(l.userFeatures, b)) continue;
        uses |= 1n << BigInt(b);
      }
      const c = criuFrame(l, l, { uses });
      frames.push({
        id: `${a.name}/criu/${uses.toString(16)}`,
        kind: "criu",
        description: `CRIU's frame on ${a.name} for a process using ${"0x" + uses.toString(16)}`,
        task: a.name,
        fpstate: c.fpstate,
        xstateSize: c.xstateSize,
      });
    }
    frames.push(...edgeCases(a.name, l));
  }
  for (const a of reps) {
    for (const b of reps) {
      if (a === b) continue;
      const uses = a.layout.userFeatures;
      const k = kernelFrame(a.layout, b.layout, { uses });
      frames.push({
        id: `${a.name}->${b.name}/kernel`,
        kind: "cross-kernel",
        description: `a frame the kernel wrote on ${a.name}, restored on ${b.name}`,
        task: b.name,
        fpstate: k.fpstate,
        xstateSize: k.xstateSize,
      });
      const c = criuFrame(a.layout, b.layout, { uses });
      frames.push({
        id: `${a.name}->${b.name}/criu`,
        kind: "cross-criu",
        description: `CRIU's frame for a process from ${a.name}, restored on ${b.name}`,
        task: b.name,
        fpstate: c.fpstate,
        xstateSize: c.xstateSize,
      });
      const r = rawCopyFrame(a.layout, b.layout, { uses });
      if (!r.refused)
        frames.push({
          id: `${a.name}->${b.name}/raw-copy`,
          kind: "cross-raw-copy",
          description: `raw-copied state from ${a.name} on ${b.name}`,
          task: b.name,
          fpstate: r.fpstate,
          xstateSize: r.xstateSize,
        });
    }
  }
  return { frames, tasks, masks, layouts: reps.length };
}

function relation(xs: number, u: number, f: DiffFrame): string {
  if (f.fpstate === null) return "null";
  return xs < u ? "xstate_size < user_size" : xs > u ? "xstate_size > user_size" : "xstate_size = user_size";
}

export function policyDiff(p: Policy, q: Policy, hosts: MatrixHost[], predict: Predictor): PolicyDiffResult {
  const { frames, tasks, masks, layouts } = diffFrames(hosts);
  const groups = new Map<string, DiffGroup & { weight: number }>();
  let differing = 0;
  for (const f of frames) {
    const task = tasks.get(f.task)!;
    const input = { fpstate: f.fpstate, task, mxcsrMask: masks.get(f.task)! } as Parameters<Predictor>[0];
    if (f.readableBytes !== undefined) input.readableBytes = f.readableBytes;
    const a = predict({ ...input, policy: p });
    const b = predict({ ...input, policy: q });
    if (same(a, b)) continue;
    differing++;
    const rel = relation(f.xstateSize, task.userSize, f);
    const cause = `${rel}: ${outcomeKey(a)} → ${outcomeKey(b)}`;
    const size = f.fpstate?.length ?? 0;
    const g = groups.get(cause);
    const ex = {
      frame: f,
      p: { path: a.path, signal: a.signal, reason: a.reason, detail: a.detail },
      q: { path: b.path, signal: b.signal, reason: b.reason, detail: b.detail },
      lostUnderP: lostOf(a),
      lostUnderQ: lostOf(b),
    };
    // The example: the smallest frame whose loss differs between the policies, else the smallest.
    const shows = ex.lostUnderP.join() !== ex.lostUnderQ.join();
    const weight = (shows ? 0 : 1e15) + f.xstateSize * 1e6 + size;
    if (!g) {
      groups.set(cause, {
        cause,
        title: `${rel}: ${p} ${describe(a)}, ${q} ${describe(b)}`,
        count: 1,
        frames: [f.id],
        kinds: { [f.kind]: 1 },
        example: ex,
        weight,
      });
    } else {
      g.count++;
      if (g.frames.length < 8) g.frames.push(f.id);
      g.kinds[f.kind] = (g.kinds[f.kind] ?? 0) + 1;
      if (weight < g.weight) {
        g.example = ex;
        g.weight = weight;
      }
    }
  }
  const sorted = [...groups.values()]
    .sort((x, y) => y.count - x.count || x.cause.localeCompare(y.cause))
    .map(({ weight: _w, ...g }) => g);
  return { p, q, total: frames.length, differing, groups: sorted, layouts };
}

function describe(pr: Prediction): string {
  switch (pr.path) {
    case "xrstor":
      return "restores with XRSTOR";
    case "fxrstor-fallback":
      return `falls back to FX-only (${pr.reason})`;
    case "fault":
      return `sends SIGSEGV (${pr.reason})`;
    default:
      return `resets to init (${pr.reason})`;
  }
}
