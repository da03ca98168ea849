/**
 * Scanning memory that arrives once, as a stream: the pages file inside a compressed checkpoint
 * archive, the segments of a compressed core. Nothing can be read twice, so the scanner keeps a
 * window of the stream around each magic1 hit (the rt_sigframe below it, the largest XSAVE area
 * above it) and examines a hit as soon as the stream has passed the last byte it could need; the
 * liveness walk (`resolveScan`) is the same as for a random-access image. Memory is the window plus
 * the bytes of the frames found (capped), whatever the stream's size.
 *
 * The stream's present bytes are described before they arrive: runs of addresses at stream
 * offsets (pagemap order for CRIU pages, PT_LOAD segments for a core).
 */
import type { MemoryChunk, MemoryImage, MemoryRegion } from "../memory.ts";
import { examine, type FrameReader } from "./candidate.ts";
import { FP, MAGIC1_ALIGN_REMAINDER, MAX_XSTATE_SIZE, RT_SIGFRAME_SIZE } from "./geometry.ts";
import {
  addExamined,
  type Candidates,
  emptyCandidates,
  examineContext,
  resolveScan,
  type ScanOptions,
  type ScanResult,
  sortedRegions,
} from "./scan.ts";

/** Present bytes [start, end) of the address space, at `offset` in the stream. */
export interface StreamRun {
  start: bigint;
  end: bigint;
  offset: number;
}

/** Bytes kept below a hit: the fpstate's 464 bytes, the rt_sigframe and its alignment. */
const BEHIND = FP.magic1 + RT_SIGFRAME_SIZE + 256;
/** Bytes needed above a hit: magic2 past the largest XSAVE area, and the frame's bytes for `check`. */
const AHEAD = MAX_XSTATE_SIZE + 64;
/** What is kept of each frame found (the destination may read up to its own user_size past it). */
const FRAME_BYTES = 64 * 1024;
/** Total bytes kept for found frames. */
const MAX_SNAPSHOT_BYTES = 64 << 20;

/** The frames' bytes, as `check` reads them back after a streamed scan. */
export class SnapshotMemory implements MemoryImage {
  private readonly regs: readonly MemoryRegion[];
  private readonly gaps: readonly { start: bigint; end: bigint; why: string }[];
  readonly snapshots = new Map<bigint, Uint8Array>();
  constructor(
    regions: readonly MemoryRegion[],
    missing: readonly { start: bigint; end: bigint; why: string }[],
  ) {
    this.regs = regions;
    this.gaps = missing;
  }
  regions(): readonly MemoryRegion[] {
    return this.regs;
  }
  missing(): readonly { start: bigint; end: bigint; why: string }[] {
    return this.gaps;
  }
  read(addr: bigint, len: number): Uint8Array | undefined {
    for (const [at, b] of this.snapshots) {
      if (addr >= at && addr + BigInt(len) <= at + BigInt(b.length)) {
        const o = Number(addr - at);
        return b.slice(o, o + len);
      }
    }
    return undefined;
  }
  *chunks(): Iterable<MemoryChunk> {}
}

export class StreamScanner implements FrameReader {
  private readonly regions: MemoryRegion[];
  private readonly byOffset: StreamRun[];
  private readonly byAddr: StreamRun[];
  private readonly opts: ScanOptions;
  private readonly ctx;
  private readonly c: Candidates = emptyCandidates();
  private readonly memory: SnapshotMemory;
  private win = new Uint8Array(1 << 20);
  /** Stream offset of win[0], and how many bytes of win are valid. */
  private winStart = 0;
  private winLen = 0;
  /** Next stream offset whose magic1 candidate has not been looked at. */
  private scanFrom = 0;
  private readonly pending: { addr: bigint; off: number }[] = [];
  private pendingHead = 0;
  private snapshotBytes = 0;
  private readonly notes: string[] = [];
  private readonly total: number;

  constructor(regions: readonly MemoryRegion[], runs: readonly StreamRun[], opts: ScanOptions = {}) {
    this.regions = sortedRegions(regions);
    this.byOffset = runs.filter((r) => r.end > r.start).sort((a, b) => a.offset - b.offset);
    this.byAddr = [...this.byOffset].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.opts = opts;
    this.ctx = examineContext(this.regions, opts);
    this.memory = new SnapshotMemory(this.regions, []);
    let total = 0;
    for (const r of this.byOffset) total += Number(r.end - r.start);
    this.total = opts.totalBytes ?? total;
    for (let i = 1; i < this.byOffset.length; i++) {
      const a = this.byOffset[i - 1]!;
      const b = this.byOffset[i]!;
      if (b.offset < a.offset + Number(a.end - a.start) || b.start < a.end) {
        this.notes.push(
          "the stream's memory runs are not in address order: a frame that straddles two runs may be reported unreadable",
        );
        break;
      }
    }
  }

  /** The stream offset past the last byte pushed. */
  get position(): number {
    return this.winStart + this.winLen;
  }

  /** The next bytes of the stream. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.compact(chunk.length);
    this.win.set(chunk, this.winLen);
    const from = this.position;
    this.winLen += chunk.length;
    this.countScanned(from, this.position);
    this.findHits(this.position - 3);
    this.examineReady(false);
  }

  /** Ends the stream: examines what is left and decides liveness (with the image's threads). */
  end(extra: Pick<ScanOptions, "threads" | "otherMappings"> = {}): {
    result: ScanResult;
    memory: SnapshotMemory;
  } {
    this.findHits(this.position);
    this.examineReady(true);
    const missing: { start: bigint; end: bigint; why: string }[] = [];
    const endOff = this.position;
    for (const r of this.byOffset) {
      const len = Number(r.end - r.start);
      if (r.offset + len <= endOff) continue;
      const from = r.offset >= endOff ? r.start : r.start + BigInt(endOff - r.offset);
      missing.push({ start: from, end: r.end, why: "past the end of the truncated stream" });
    }
    const memory = new SnapshotMemory(this.regions, missing);
    for (const [k, v] of this.memory.snapshots) memory.snapshots.set(k, v);
    const result = resolveScan(this.c, this.regions, missing, { ...this.opts, ...extra });
    result.notes.push(...this.notes);
    return { result, memory };
  }

  /** Drops window bytes no pending hit or future hit can need; makes room for `incoming` bytes. */
  private compact(incoming: number): void {
    const head = this.position;
    let keepFrom = head - BEHIND;
    if (this.pendingHead < this.pending.length)
      keepFrom = Math.min(keepFrom, this.pending[this.pendingHead]!.off - BEHIND);
    keepFrom = Math.max(keepFrom, this.winStart);
    const drop = keepFrom - this.winStart;
    const keep = this.winLen - drop;
    if (keep + incoming > this.win.length) {
      const next = new Uint8Array(Math.max(keep + incoming, this.win.length * 2));
      next.set(this.win.subarray(drop, this.winLen));
      this.win = next;
    } else if (drop > 0) this.win.copyWithin(0, drop, this.winLen);
    this.winStart = keepFrom;
    this.winLen = keep;
  }

  /** Index of the first run (by stream offset) that ends after `off`. */
  private firstRunAfter(off: number): number {
    const runs = this.byOffset;
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = runs[mid]!;
      if (r.offset + Number(r.end - r.start) <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private countScanned(from: number, to: number): void {
    let n = 0;
    for (let k = this.firstRunAfter(from); k < this.byOffset.length && this.byOffset[k]!.offset < to; k++) {
      const r = this.byOffset[k]!;
      const a = Math.max(from, r.offset);
      const b = Math.min(to, r.offset + Number(r.end - r.start));
      if (b > a) n += b - a;
    }
    if (n > 0) {
      this.c.bytesScanned += n;
      this.opts.onProgress?.(this.c.bytesScanned, Math.max(this.total, this.c.bytesScanned));
    }
  }

  /** Looks for magic1 at stream offsets [scanFrom, limit) (each position once). */
  private findHits(limit: number): void {
    const from = this.scanFrom;
    if (limit <= from) return;
    this.scanFrom = limit;
    const w = this.win;
    const base = this.winStart;
    for (
      let k = this.firstRunAfter(from);
      k < this.byOffset.length && this.byOffset[k]!.offset < limit;
      k++
    ) {
      const r = this.byOffset[k]!;
      const rEnd = r.offset + Number(r.end - r.start);
      const a = Math.max(from, r.offset);
      const b = Math.min(limit, rEnd);
      if (b <= a) continue;
      // Last position whose 4 bytes are inside this run.
      const last = Math.min(b, rEnd - 3);
      const addrOf = (off: number) => r.start + BigInt(off - r.offset);
      if (this.opts.all) {
        let i = w.indexOf(0x53, a - base);
        while (i >= 0 && i + base < last) {
          if (w[i + 1] === 0x58 && w[i + 2] === 0x50 && w[i + 3] === 0x46)
            this.pending.push({ addr: addrOf(i + base), off: i + base });
          i = w.indexOf(0x53, i + 1);
        }
      } else {
        const mod = Number(addrOf(a) % 64n);
        for (let off = a + ((MAGIC1_ALIGN_REMAINDER - mod + 64) % 64); off < last; off += 64) {
          const i = off - base;
          if (w[i] === 0x53 && w[i + 1] === 0x58 && w[i + 2] === 0x50 && w[i + 3] === 0x46)
            this.pending.push({ addr: addrOf(off), off });
        }
      }
    }
  }

  private examineReady(all: boolean): void {
    const head = this.position;
    while (this.pendingHead < this.pending.length) {
      const h = this.pending[this.pendingHead]!;
      if (!all && h.off + AHEAD > head) break;
      this.pendingHead++;
      const e = examine(this, h.addr, this.ctx);
      addExamined(this.c, e, this.opts);
      if (e.kind === "frame") this.snapshot(e.frame.fpstate);
    }
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /** Keeps a found frame's bytes (from its fpstate up to 64 KiB, as far as they are present). */
  private snapshot(fpstate: bigint): void {
    if (this.snapshotBytes >= MAX_SNAPSHOT_BYTES) return;
    let n = FRAME_BYTES;
    let b = this.read(fpstate, n);
    while (!b && n > 512) {
      n >>= 1;
      b = this.read(fpstate, n);
    }
    if (!b) return;
    this.memory.snapshots.set(fpstate, b);
    this.snapshotBytes += b.length;
  }

  /** FrameReader over the window: bytes at [addr, addr+len) if present and still held. */
  read(addr: bigint, len: number): Uint8Array | undefined {
    if (len < 0 || !Number.isSafeInteger(len)) return undefined;
    const runs = this.byAddr;
    let lo = 0;
    let hi = runs.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = runs[mid]!;
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else {
        i = mid;
        break;
      }
    }
    if (i < 0) return undefined;
    const end = addr + BigInt(len);
    const off = runs[i]!.offset + Number(addr - runs[i]!.start);
    // Every byte present, in runs that are contiguous in both the address space and the stream.
    for (let j = i; runs[j]!.end < end; j++) {
      const next = runs[j + 1];
      if (
        !next ||
        next.start !== runs[j]!.end ||
        next.offset !== runs[j]!.offset + Number(runs[j]!.end - runs[j]!.start)
      )
        return undefined;
    }
    const from = off - this.winStart;
    if (from < 0 || from + len > this.winLen) return undefined;
    return this.win.slice(from, from + len);
  }
}
