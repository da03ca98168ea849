/**
 * `scan --json`: the contract's `frames[]` (thread, ucontext, fpstate, signal, xstateSize,
 * extendedSize, xfeatures, xstateBv, depth, confidence), extended with where each frame is, why it
 * is low, each thread's state and, with `--all`, the rejected magic1 hits.
 */
import type { Compression } from "../archive/compression.ts";
import type { ContainerInfo } from "../archive/container.ts";
import type { CpuSource } from "../criu/source-cpu.ts";
import { UsageError } from "../errors.ts";
import { hex } from "../hex.ts";
import { u64Option } from "../options.ts";
import type { RejectCode, Rejected } from "./candidate.ts";
import {
  type FrameStateJson,
  frameFpstate,
  frameStateJson,
  readAsFor,
  type SavedFrame,
} from "./frame-state.ts";
import type { Confidence, FoundFrame, ThreadReport } from "./scan.ts";
import type { ProcessScan, ScanTarget } from "./targets.ts";

/** A 64-bit value or address as the documents write it. */
type Hex = string;

/** One frame found: where it is, what its sw bytes and siginfo say, and how sure the scan is. */
export interface ScanFrameJson {
  /** The process (only when the image holds several). */
  pid?: number;
  thread?: { index: number; tid?: number };
  frame: Hex;
  ucontext: Hex;
  siginfo: Hex;
  fpstate: Hex;
  end: Hex;
  signal: number;
  signalName: string;
  siCode: number;
  xstateSize: number;
  extendedSize: number;
  xfeatures: Hex;
  xstateBv: Hex;
  mxcsr: Hex;
  /** Nesting depth in its thread's chain, 1 = outermost; null when not on a chain. */
  depth: number | null;
  confidence: Confidence;
  /** Why not high (empty for high frames). */
  reasons: string[];
  onAltstack: boolean;
  placement: "stack" | "altstack" | null;
  region?: { start: Hex; end: Hex; perm: string; name?: string };
  interrupted: { rip: Hex; rsp: Hex };
  pretcode: Hex;
  ucFlags: Hex;
  ucStack: { sp: Hex; flags: number; size: Hex };
  ucSigmask: Hex;
  sigcontext: Record<string, Hex>;
  /** What rt_sigreturn would load from it, decoded at the offsets of the layout that wrote it. */
  state?: FrameStateJson;
}

/** One thread: its stack pointer, sigaltstack, the frames it is inside, its own FPU state. */
export interface ScanThreadJson {
  pid?: number;
  index: number;
  tid?: number;
  sp?: Hex;
  ip?: Hex;
  altstack?: { sp: Hex; size: Hex; flags: number };
  stack?: { start: Hex; end: Hex; name?: string };
  inHandler: boolean;
  depth: number;
  /** ucontext addresses of its frames, outermost first. */
  frames: Hex[];
  fpu?: {
    source: string;
    xstateBv?: Hex;
    xfeatures?: Hex;
    size?: number;
    mxcsr?: Hex;
    mxcsrMask?: Hex;
    notes?: string[];
  };
}

export interface ScanRejectedJson {
  pid?: number;
  magic1: Hex;
  fpstate: Hex;
  code: RejectCode;
  reason: string;
}

/** One image's scan (a checkpoint, a core, a raw image, or one container of a pod archive). */
export interface ScanImageJson {
  target: {
    path: string;
    kind: ScanTarget["kind"];
    /** The process ids the image records; absent for a raw image, which records none. */
    processes?: number[];
    profile?: string;
    cpuSource?: CpuSource;
    compression?: Compression;
    container?: ContainerInfo;
  };
  frames: ScanFrameJson[];
  threads: ScanThreadJson[];
  summary: {
    liveFrames: number;
    lowFrames: number;
    magic1Hits: number;
    alignment: string;
    rejected: number;
    rejectedByCode: Record<string, number>;
    bytesScanned: number;
  };
  /** Ranges mapped in the process but not in the image (not scanned). */
  missing: { pid?: number; start: Hex; end: Hex; why: string }[];
  notes: string[];
  /** With --all: every magic1 hit that is not a frame. */
  rejected?: ScanRejectedJson[];
}

/** `scan --save-frames DIR`: the files written, what index.json holds. */
export interface SavedFramesJson {
  dir: string;
  frames: SavedFrame["entry"][];
  /** The source CPU as a profile file, where the image records it. */
  sourceCpu?: string;
}

/**
 * `scan --json`: one image's scan; for a checkpoint archive with its compression, each
 * container's; with `--save-frames`, what was saved.
 */
export type ScanJson = (
  | ScanImageJson
  | (ScanImageJson & { archive: { compression: Compression | "none" } })
  | { archive: { compression: Compression | "none" }; containers: ScanImageJson[] }
) & { saved?: SavedFramesJson };

/** The object without its undefined properties (what JSON.stringify would drop anyway, in order). */
function clean<T extends object>(o: T): T {
  const out = {} as T;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export function frameJson(f: FoundFrame, pid?: number, state?: FrameStateJson): ScanFrameJson {
  const sc: Record<string, Hex> = {};
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
    state,
  });
}

/** The registers of each frame of a scan, decoded with the layout that wrote it (frame-state.ts). */
function stateOf(f: FoundFrame, s: ProcessScan, source: ScanTarget["profile"]): FrameStateJson | undefined {
  const readAs = readAsFor(f, source);
  const fp = frameFpstate(f, s.process.memory, readAs);
  return fp ? frameStateJson(fp, readAs) : undefined;
}

export function threadJson(r: ThreadReport, pid?: number): ScanThreadJson {
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

export function rejectedJson(r: Rejected, pid?: number): ScanRejectedJson {
  return clean({ pid, magic1: hex(r.magic1), fpstate: hex(r.fpstate), code: r.code, reason: r.reason });
}

/** The `scan --json` document of one image. */
export function scanJson(target: ScanTarget, scans: ProcessScan[], all: boolean): ScanImageJson {
  const multi = scans.length > 1;
  const pidOf = (s: ProcessScan) => (multi ? s.pid : undefined);
  const frames = scans.flatMap((s) =>
    s.result.frames.map((f) => frameJson(f, pidOf(s), stateOf(f, s, target.profile))),
  );
  const high = frames.filter((f) => f.confidence === "high").length;
  const byCode: Record<string, number> = {};
  for (const s of scans)
    for (const [k, v] of Object.entries(s.result.rejectedByCode)) byCode[k] = (byCode[k] ?? 0) + v;
  const doc: ScanImageJson = {
    target: clean({
      path: target.name,
      kind: target.kind,
      // The process ids the image records; a raw image records none (no `null` placeholders).
      processes: scans.some((s) => s.pid !== undefined)
        ? scans.flatMap((s) => (s.pid === undefined ? [] : [s.pid]))
        : undefined,
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

/** `scan`'s raw-image options as a user gives them. */
export interface ScanFlags {
  /** Raw image: the virtual address of its first byte. */
  base?: string;
  /** Raw image: a thread's stack pointer, and its sigaltstack `SP:SIZE`. */
  sp?: string;
  altstack?: string;
  /** Examine magic1 at every alignment and keep the rejected hits. */
  all?: boolean;
}

export interface RawImageOptions {
  base?: bigint;
  sp?: bigint;
  altstack?: { sp: bigint; size: bigint };
}

/** Parses the raw-image flags (before any input is read). */
export function rawImageOptions(flags: ScanFlags): RawImageOptions {
  const o: RawImageOptions = {};
  const base = u64Option(flags.base, "--base");
  if (base !== undefined) o.base = base;
  const sp = u64Option(flags.sp, "--sp");
  if (sp !== undefined) o.sp = sp;
  if (flags.altstack !== undefined) {
    const [a, b, ...rest] = flags.altstack.split(":");
    if (a === undefined || b === undefined || rest.length)
      throw new UsageError("expected SP:SIZE, e.g. 0x7f0000000000:0x10000", { input: "--altstack" });
    o.altstack = { sp: u64Option(a, "--altstack")!, size: u64Option(b, "--altstack")! };
  }
  if ((o.sp !== undefined || o.altstack) && o.base === undefined)
    throw new UsageError("--sp and --altstack describe a raw image's thread; give --base too", {
      input: "--sp",
    });
  return o;
}

/** What a scan found: one image, or each container of a checkpoint archive. */
export interface ScanReport {
  parts: { target: ScanTarget; scans: ProcessScan[] }[];
  /** It was a checkpoint archive (tar), with this compression. */
  archive?: { compression: Compression | "none" };
  /** The rejected hits are kept (`--all`). */
  all: boolean;
  /** `--save-frames DIR`: what was written. */
  saved?: SavedFramesJson;
}

/** `scan --json`. */
export function scanReportJson(r: ScanReport): ScanJson {
  const docs = r.parts.map((p) => scanJson(p.target, p.scans, r.all));
  const doc: ScanJson = !r.archive
    ? docs[0]!
    : docs.length === 1
      ? { archive: r.archive, ...docs[0]! }
      : { archive: r.archive, containers: docs };
  return r.saved ? { ...doc, saved: r.saved } : doc;
}
