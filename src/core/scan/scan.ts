/**
 * The on-stack signal-frame scanner: finds the live kernel signal frames of each thread in a
 * process image (CRIU checkpoint, ELF core, raw memory), nested ones included.
 *
 * 1. Stream the present bytes (`MemoryImage.chunks`, bounded memory) for FP_XSTATE_MAGIC1 at
 *    fpstate + 464 with fpstate 64-byte aligned (addresses ≡ 16 mod 64); with `all`, at any
 *    alignment, so that every hit is accounted for.
 * 2. Examine each hit (`candidate.ts`): sw_bytes, magic2, XSAVE header, the rt_sigframe below the
 *    fpstate whose uc_mcontext.fpstate points back at it, its placement against its own saved rsp
 *    (or altstack), segments, flags and addresses.
 * 3. Walk each thread's chain from its stack pointer: the innermost frame is the lowest frame at or
 *    above sp on the same stack (its altstack or the mapping holding sp); the interrupted rsp saved
 *    in that frame is where the next (outer) frame is looked for, and so on. Depth 1 is outermost.
 *
 * `high` confidence: a frame that passes every check and is on a thread's chain. Everything else
 * (stale frames below sp, copies elsewhere, frames in an image without thread registers) is `low`
 * with the reasons.
 */
import type { MemoryImage, MemoryRegion } from "../memory.ts";
import { type ExamineContext, type Examined, examine, type KernelFrame, type Rejected } from "./candidate.ts";
import { SS_DISABLE, siginfoSignal, signalName } from "./geometry.ts";
import { findMagic1, firstAligned } from "./magic.ts";

/** A thread as the image describes it. */
export interface ScanThread {
  /** 1-based position in the image. */
  index: number;
  tid?: number;
  /** The thread's stack pointer (user rsp) from its saved registers. */
  sp?: bigint;
  ip?: bigint;
  /** The thread's sigaltstack as saved (CRIU `sas`); ELF cores do not record it. */
  altstack?: { sp: bigint; size: bigint; flags: number };
  /** The thread's own FPU state as the image stores it. */
  fpu?: ThreadFpu;
}

export interface ThreadFpu {
  /** Where it came from, e.g. `core-123.img fpregs/xsave` or `NT_X86_XSTATE`. */
  source: string;
  /** XSTATE_BV of the saved state (which components are not in init state). */
  xstateBv?: bigint;
  /** The feature mask the image records with it (XCR0 in an ELF note). */
  xfeatures?: bigint;
  /** Size of the saved area in bytes. */
  size?: number;
  mxcsr?: number;
  /** MXCSR_MASK as the saved FXSAVE image records it (the CPU's, not the thread's). */
  mxcsrMask?: number;
  /** The state as a standard-format XSAVE area, where the image has or implies one. */
  xsave?: Uint8Array;
  notes?: string[];
}

export type Confidence = "high" | "low";

export interface FoundFrame extends KernelFrame {
  thread?: { index: number; tid?: number };
  /** Nesting depth in its thread's chain, 1 = outermost; null when not on a chain. */
  depth: number | null;
  confidence: Confidence;
  /** Why not high (empty for high frames). */
  reasons: string[];
  /** On the thread's sigaltstack (its saved one, or the one the frame says it switched to). */
  onAltstack: boolean;
  region?: MemoryRegion;
  signal: number;
  signalName: string;
}

export interface ThreadReport {
  thread: ScanThread;
  /** Outermost (depth 1) first. */
  frames: FoundFrame[];
  /** The stack holding sp: the altstack or the mapping. */
  stack?: { start: bigint; end: bigint; name?: string };
}

export interface ScanOptions {
  threads?: ScanThread[];
  /** Examine magic1 at every alignment and keep rejected candidates. */
  all?: boolean;
  /** Bytes per chunk read from the image (default 1 MiB). */
  chunkSize?: number;
  /** Called after each chunk with bytes scanned so far and the expected total. */
  onProgress?(done: number, total: number): void;
  /** Bytes present in the image, where the caller knows (for progress); else estimated from regions. */
  totalBytes?: number;
  /** The image has real mappings (VMAs/PT_LOADs) with permissions; false for a raw image. */
  regionsKnown?: boolean;
  /**
   * Mappings the process had that are not among the image's regions, permissions unknown (gcore
   * leaves read-only and executable file mappings out of its PT_LOADs; NT_FILE still lists them).
   */
  otherMappings?: readonly { start: bigint; end: bigint; name?: string }[];
  /** Caps on what is kept (counts stay exact). */
  maxFrames?: number;
  maxRejected?: number;
}

export interface ScanResult {
  /** High frames per thread by depth, then low frames by address. */
  frames: FoundFrame[];
  framesTotal: number;
  /** With `all`: candidates that are not frames. */
  rejected: Rejected[];
  rejectedTotal: number;
  rejectedByCode: Record<string, number>;
  threads: ThreadReport[];
  /** magic1 dwords seen (at the scanned alignments). */
  magic1Hits: number;
  bytesScanned: number;
  /** Whether every alignment was scanned (`all`) or only fpstate+464 with fpstate 64-aligned. */
  alignedOnly: boolean;
  missing: { start: bigint; end: bigint; why: string }[];
  notes: string[];
}

const DEFAULT_CHUNK = 1 << 20;
const h = (v: bigint | number) => `0x${v.toString(16)}`;

/** Total present bytes as far as the image tells: mapped minus reported missing. */
export function expectedBytes(mem: MemoryImage): number {
  let n = 0n;
  for (const r of mem.regions()) n += r.end - r.start;
  for (const m of mem.missing?.() ?? []) n -= m.end - m.start;
  return n > 0n ? Number(n) : 0;
}

/**
 * Streams the image and yields the address of every magic1 dword (ascending, each once). The image
 * is read in pieces of `chunkSize` (1 MiB: large sequential reads whose buffer stays in the CPU's
 * cache while it is searched) and searched by `findMagic1`.
 */
export function* magic1Hits(
  mem: MemoryImage,
  opts: { all?: boolean; chunkSize?: number; onChunk?(bytes: number): void } = {},
): Generator<bigint> {
  const chunk = Math.max(4096, opts.chunkSize ?? DEFAULT_CHUNK);
  let last = -1n;
  let seenEnd = -1n;
  const found: number[] = [];
  for (const c of mem.chunks(chunk, 3)) {
    // Hits are collected before any is yielded: the consumer reads the image, and a chunk's bytes
    // may be a view that the next read reuses.
    found.length = 0;
    const b = c.bytes;
    const n = b.length;
    findMagic1(b, 0, n, found, opts.all ? undefined : firstAligned(0, c.addr));
    const addr = c.addr;
    // Count each byte once: a chunk repeats the tail of the one before it.
    const end = addr + BigInt(n);
    const from = addr > seenEnd ? addr : seenEnd;
    if (end > from) opts.onChunk?.(Number(end - from));
    if (end > seenEnd) seenEnd = end;
    for (const i of found) {
      const a = addr + BigInt(i);
      if (a > last) {
        last = a;
        yield a;
      }
    }
  }
}

function findRegion(regions: readonly MemoryRegion[], addr: bigint): MemoryRegion | undefined {
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = regions[mid]!;
    if (addr < r.start) hi = mid - 1;
    else if (addr >= r.end) lo = mid + 1;
    else return r;
  }
  return undefined;
}

/** Index of the first frame (sorted by address) at or above `addr`. */
function lowerBound(frames: readonly KernelFrame[], addr: bigint): number {
  let lo = 0;
  let hi = frames.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid]!.frame < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What examining every magic1 hit of an image gave, before liveness is decided. */
export interface Candidates {
  /** Frame-shaped candidates, in address order (at most `maxFrames`). */
  frames: KernelFrame[];
  framesTotal: number;
  rejected: Rejected[];
  rejectedTotal: number;
  rejectedByCode: Record<string, number>;
  hits: number;
  bytesScanned: number;
}

export function emptyCandidates(): Candidates {
  return {
    frames: [],
    framesTotal: 0,
    rejected: [],
    rejectedTotal: 0,
    rejectedByCode: {},
    hits: 0,
    bytesScanned: 0,
  };
}

/** Regions sorted by start, as the examiner and the liveness walk look them up. */
export function sortedRegions(regions: readonly MemoryRegion[]): MemoryRegion[] {
  return [...regions].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** The examiner's view of the mappings (none for a raw image). */
export function examineContext(regions: readonly MemoryRegion[], opts: ScanOptions): ExamineContext {
  if (!(opts.regionsKnown ?? true)) return {};
  const others = opts.otherMappings ?? [];
  return {
    mappedWith(addr: bigint, perm: "r" | "w" | "x"): boolean | undefined {
      const r = findRegion(regions, addr);
      if (r) return r.perm.includes(perm);
      return others.some((o) => addr >= o.start && addr < o.end) ? undefined : false;
    },
  };
}

/** Adds one examined hit to the candidates (keeping at most maxFrames / maxRejected). */
export function addExamined(c: Candidates, e: Examined, opts: ScanOptions): void {
  c.hits++;
  if (e.kind === "frame") {
    c.framesTotal++;
    if (c.frames.length < (opts.maxFrames ?? 10000)) c.frames.push(e.frame);
  } else {
    c.rejectedTotal++;
    c.rejectedByCode[e.rejected.code] = (c.rejectedByCode[e.rejected.code] ?? 0) + 1;
    if (opts.all && c.rejected.length < (opts.maxRejected ?? 10000)) c.rejected.push(e.rejected);
  }
}

/** Scans `mem` for signal frames; see the module comment for the rules. */
export function scanMemory(mem: MemoryImage, opts: ScanOptions = {}): ScanResult {
  const regions = sortedRegions(mem.regions());
  const ctx = examineContext(regions, opts);
  const total = opts.totalBytes ?? expectedBytes(mem);
  const c = emptyCandidates();
  const hitOpts: { all?: boolean; chunkSize?: number; onChunk?(bytes: number): void } = {
    onChunk: (n) => {
      c.bytesScanned += n;
      opts.onProgress?.(c.bytesScanned, Math.max(total, c.bytesScanned));
    },
  };
  if (opts.all) hitOpts.all = true;
  if (opts.chunkSize !== undefined) hitOpts.chunkSize = opts.chunkSize;
  for (const a of magic1Hits(mem, hitOpts)) addExamined(c, examine(mem, a, ctx), opts);
  return resolveScan(c, regions, [...(mem.missing?.() ?? [])], opts);
}

/**
 * Decides liveness for examined candidates: walks each thread's chain from its stack pointer and
 * explains every frame that is not on one. `regions` must be sorted (sortedRegions).
 */
export function resolveScan(
  c: Candidates,
  regions: readonly MemoryRegion[],
  missing: { start: bigint; end: bigint; why: string }[],
  opts: ScanOptions = {},
): ScanResult {
  const threads = opts.threads ?? [];
  const notes: string[] = [];
  const { frames, framesTotal } = c;
  if (framesTotal > frames.length)
    notes.push(`${framesTotal} frame-shaped candidates; only the first ${frames.length} are evaluated`);

  // Liveness: walk each thread's chain from its sp.
  const claimed = new Map<KernelFrame, { report: ThreadReport; depthFromInner: number }>();
  const reports: ThreadReport[] = [];
  const byAddr = [...frames].sort((a, b) => (a.frame < b.frame ? -1 : a.frame > b.frame ? 1 : 0));
  const stackRange = (
    t: ScanThread,
    addr: bigint,
  ): { start: bigint; end: bigint; name?: string } | undefined => {
    const as = t.altstack;
    if (as && as.size > 0n && addr >= as.sp && addr < as.sp + as.size)
      return { start: as.sp, end: as.sp + as.size, name: "sigaltstack" };
    const r = findRegion(regions, addr);
    if (!r) return undefined;
    return r.name === undefined
      ? { start: r.start, end: r.end }
      : { start: r.start, end: r.end, name: r.name };
  };
  for (const t of threads) {
    const report: ThreadReport = { thread: t, frames: [] };
    reports.push(report);
    if (t.sp === undefined) continue;
    const st = stackRange(t, t.sp);
    if (st) report.stack = st;
    const chain: KernelFrame[] = [];
    let cursor = t.sp;
    for (let guard = 0; guard <= byAddr.length; guard++) {
      const range = stackRange(t, cursor);
      if (!range) break;
      let next: KernelFrame | undefined;
      for (let i = lowerBound(byAddr, cursor); i < byAddr.length && byAddr[i]!.frame < range.end; i++) {
        const f = byAddr[i]!;
        if (f.end <= range.end && !claimed.has(f)) {
          next = f;
          break;
        }
      }
      if (!next) break;
      claimed.set(next, { report, depthFromInner: chain.length });
      chain.push(next);
      cursor = next.sigcontext.rsp;
    }
    chain.reverse();
    report.frames = chain.map((f, i) => found(f, t, i + 1));
  }
  if (threads.every((t) => t.sp === undefined))
    notes.push("no thread registers: a live frame cannot be told from a stale one, so no frame is high");

  const unchained: FoundFrame[] = [];
  for (const f of byAddr) {
    if (claimed.has(f)) continue;
    const ff = found(f, undefined, null);
    ff.reasons.push(whyNotLive(f));
    ff.confidence = "low";
    unchained.push(ff);
  }

  function found(f: KernelFrame, t: ScanThread | undefined, depth: number | null): FoundFrame {
    // The thread's sigaltstack where the image records it (CRIU); else the one the frame itself
    // saved in uc_stack (__save_altstack(): the settings at delivery, kept by every nested frame on
    // it too), which is all an ELF core has.
    const own = f.ucStack.size > 0n && (f.ucStack.flags & SS_DISABLE) === 0 ? f.ucStack : undefined;
    const as = t?.altstack && t.altstack.size > 0n ? t.altstack : own;
    const onAltstack = as ? f.frame >= as.sp && f.end <= as.sp + as.size : f.placement === "altstack";
    const ff: FoundFrame = {
      ...f,
      depth,
      confidence: f.problems.length === 0 && t ? "high" : "low",
      reasons: [...f.problems],
      onAltstack: Boolean(onAltstack),
      signal: siginfoSignal(f.siginfoFields.signo),
      signalName: signalName(siginfoSignal(f.siginfoFields.signo)),
    };
    if (t) ff.thread = t.tid === undefined ? { index: t.index } : { index: t.index, tid: t.tid };
    const r = findRegion(regions, f.frame);
    if (r) ff.region = r;
    return ff;
  }

  function whyNotLive(f: KernelFrame): string {
    const withSp = threads.filter((t) => t.sp !== undefined);
    if (withSp.length === 0) return "no thread registers: liveness cannot be checked";
    for (const t of withSp) {
      const st = stackRange(t, t.sp!);
      if (st && f.frame >= st.start && f.end <= st.end) {
        if (f.end <= t.sp!)
          return `below thread ${t.index}'s stack pointer ${h(t.sp!)}: dead stack, a frame whose handler returned`;
        return `on thread ${t.index}'s live stack but not on the chain of frames from its stack pointer`;
      }
      for (const c of reportFor(t)?.frames ?? []) {
        const cs = stackRange(t, c.sigcontext.rsp);
        if (cs && f.frame >= cs.start && f.end <= cs.end) {
          if (f.end <= c.sigcontext.rsp)
            return `below the rsp ${h(c.sigcontext.rsp)} that thread ${t.index}'s depth-${c.depth} frame interrupted: dead stack`;
          return `on thread ${t.index}'s stack but not on the chain of frames from its stack pointer`;
        }
      }
    }
    const r = findRegion(regions, f.frame);
    const where = r?.name ? ` (in ${r.name})` : r ? ` (in ${h(r.start)}-${h(r.end)})` : "";
    return `not on any thread's stack${where}: a copy of a frame, not a live one`;
  }
  function reportFor(t: ScanThread): ThreadReport | undefined {
    return reports.find((r) => r.thread === t);
  }

  const live = reports.flatMap((r) => r.frames);
  const unknown = live.filter((f) => f.signal === 0).length;
  if (unknown)
    notes.push(
      `${unknown} live frame${unknown === 1 ? " has" : "s have"} no siginfo (si_signo not a signal number): the kernel writes siginfo only for SA_SIGINFO handlers, so the signal is unknown`,
    );
  return {
    frames: [...live, ...unchained],
    framesTotal,
    rejected: c.rejected,
    rejectedTotal: c.rejectedTotal,
    rejectedByCode: c.rejectedByCode,
    threads: reports,
    magic1Hits: c.hits,
    bytesScanned: c.bytesScanned,
    alignedOnly: !opts.all,
    missing,
    notes,
  };
}
