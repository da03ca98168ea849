/**
 * `scan --json`: the contract's `frames[]` (thread, ucontext, fpstate, signal, xstateSize,
 * extendedSize, xfeatures, xstateBv, depth, confidence), extended with where each frame is, why it
 * is low, each thread's state and, with `--all`, the rejected magic1 hits.
 */
import { hex } from "../hex.ts";
import type { Rejected } from "./candidate.ts";
import type { FoundFrame, ThreadReport } from "./scan.ts";
import type { ProcessScan, ScanTarget } from "./targets.ts";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function clean(o: { [k: string]: Json | undefined }): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

export function frameJson(f: FoundFrame, pid?: number): { [k: string]: Json } {
  const sc: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(f.sigcontext)) sc[k] = hex(v);
  return clean({
    pid,
    thread: f.thread ? clean({ index: f.thread.index, tid: f.thread.tid }) : undefined,
    frame: hex(f.frame),
    ucontext: hex(f.ucontext),
    siginfo: hex(f.siginfo),
    fpstate: hex(f.fpstate),
    end: hex(f.end),
    signal: f.signal,
    signalName: f.signalName,
    siCode: f.siginfoFields.code,
    xstateSize: f.sw.xstateSize,
    extendedSize: f.sw.extendedSize,
    xfeatures: hex(f.sw.xfeatures),
    xstateBv: hex(f.xstateBv),
    mxcsr: hex(f.mxcsr),
    depth: f.depth,
    confidence: f.confidence,
    reasons: f.reasons,
    onAltstack: f.onAltstack,
    placement: f.placement,
    region: f.region
      ? clean({
          start: hex(f.region.start),
          end: hex(f.region.end),
          perm: f.region.perm,
          name: f.region.name,
        })
      : undefined,
    interrupted: { rip: hex(f.sigcontext.rip), rsp: hex(f.sigcontext.rsp) },
    pretcode: hex(f.pretcode),
    ucFlags: hex(f.ucFlags),
    ucStack: { sp: hex(f.ucStack.sp), flags: f.ucStack.flags, size: hex(f.ucStack.size) },
    ucSigmask: hex(f.ucSigmask),
    sigcontext: sc,
  });
}

export function threadJson(r: ThreadReport, pid?: number): { [k: string]: Json } {
  const t = r.thread;
  const fpu = t.fpu;
  return clean({
    pid,
    index: t.index,
    tid: t.tid,
    sp: t.sp === undefined ? undefined : hex(t.sp),
    ip: t.ip === undefined ? undefined : hex(t.ip),
    altstack: t.altstack
      ? { sp: hex(t.altstack.sp), size: hex(t.altstack.size), flags: t.altstack.flags }
      : undefined,
    stack: r.stack
      ? clean({ start: hex(r.stack.start), end: hex(r.stack.end), name: r.stack.name })
      : undefined,
    inHandler: r.frames.length > 0,
    depth: r.frames.length,
    frames: r.frames.map((f) => hex(f.ucontext)),
    fpu: fpu
      ? clean({
          source: fpu.source,
          xstateBv: fpu.xstateBv === undefined ? undefined : hex(fpu.xstateBv),
          xfeatures: fpu.xfeatures === undefined ? undefined : hex(fpu.xfeatures),
          size: fpu.size,
          mxcsr: fpu.mxcsr === undefined ? undefined : hex(fpu.mxcsr),
          mxcsrMask: fpu.mxcsrMask === undefined ? undefined : hex(fpu.mxcsrMask),
          notes: fpu.notes,
        })
      : undefined,
  });
}

export function rejectedJson(r: Rejected, pid?: number): { [k: string]: Json } {
  return clean({ pid, magic1: hex(r.magic1), fpstate: hex(r.fpstate), code: r.code, reason: r.reason });
}

/** The whole `scan --json` document. */
export function scanJson(target: ScanTarget, scans: ProcessScan[], all: boolean): { [k: string]: Json } {
  const multi = scans.length > 1;
  const pidOf = (s: ProcessScan) => (multi ? s.pid : undefined);
  const frames = scans.flatMap((s) => s.result.frames.map((f) => frameJson(f, pidOf(s))));
  const high = frames.filter((f) => f.confidence === "high").length;
  const byCode: { [k: string]: Json } = {};
  for (const s of scans)
    for (const [k, v] of Object.entries(s.result.rejectedByCode))
      byCode[k] = ((byCode[k] as number) ?? 0) + v;
  const doc: { [k: string]: Json } = {
    target: clean({
      path: target.name,
      kind: target.kind,
      processes: scans.map((s) => s.pid ?? null),
      profile: target.profile?.name,
      cpuSource: target.cpuSource,
      compression: target.compression,
      container: target.container ? clean({ ...target.container }) : undefined,
    }),
    frames,
    threads: scans.flatMap((s) => s.result.threads.map((t) => threadJson(t, pidOf(s)))),
    summary: {
      liveFrames: high,
      lowFrames: frames.length - high,
      magic1Hits: scans.reduce((n, s) => n + s.result.magic1Hits, 0),
      alignment: all ? "any" : "fpstate+464, fpstate 64-byte aligned",
      rejected: scans.reduce((n, s) => n + s.result.rejectedTotal, 0),
      rejectedByCode: byCode,
      bytesScanned: scans.reduce((n, s) => n + s.result.bytesScanned, 0),
    },
    missing: scans.flatMap((s) =>
      s.result.missing.map((m) => clean({ pid: pidOf(s), start: hex(m.start), end: hex(m.end), why: m.why })),
    ),
    notes: [...target.notes, ...scans.flatMap((s) => s.result.notes)],
  };
  if (all) doc.rejected = scans.flatMap((s) => s.result.rejected.map((r) => rejectedJson(r, pidOf(s))));
  return doc;
}
