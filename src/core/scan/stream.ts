/**
 * Scanning memory that arrives once, as a stream: the pages file inside a compressed checkpoint
 * archive, the segments of a compressed core. The stream's present bytes are described before they
 * arrive: runs of addresses at stream offsets (pagemap order for CRIU pages, PT_LOAD segments for a
 * core), in any order. The scanner keeps a window of the stream around each magic1 hit (the
 * rt_sigframe below it, the largest XSAVE area above it) and examines a hit as soon as the stream
 * has passed the last byte it could need; the liveness walk (`resolveScan`) is the same as for a
 * random-access image, so a streamed scan reports exactly what `scanMemory` reports for the same
 * memory. Memory is the window plus the bytes of the frames found (capped), whatever the stream's
 * size.
 *
 * Runs that are contiguous both in the address space and in the stream are one run. Where two runs
 * touch in the address space but lie apart in the stream (a core whose segments are not stored in
 * address order), a hit whose bytes span both cannot be examined from the window: it is deferred,
 * and the caller either reads the stream a second time into a `StreamCapture` of just the bytes
 * those hits need (`deferredRanges`, `examineDeferred`), or ends without them (they are then
 * examined as far as the window allows, with a note). The checks of a frame's addresses against
 * the mappings are made at the end, when every mapping is known.
 */
import type { MemoryChunk, MemoryImage, MemoryRegion } from "../memory.ts";
import { examine, type FrameReader, type KernelFrame, mappingProblems } from "./candidate.ts";
import {
  FP,
  FRAME_BYTES_TAKEN,
  MAGIC1_ALIGN_REMAINDER,
  MAX_XSTATE_SIZE,
  RT_SIGFRAME_SIZE,
} from "./geometry.ts";
import { findMagic1, firstAligned } from "./magic.ts";
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

export interface MissingRange {
  start: bigint;
  end: bigint;
  why: string;
}

/** Bytes kept below a hit: the fpstate's 464 bytes, the rt_sigframe and its alignment. */
const BEHIND = FP.magic1 + RT_SIGFRAME_SIZE + 256;
/** Bytes needed above a hit: magic2 past the largest XSAVE area, and the frame's bytes for `check`. */
const AHEAD = Math.max(MAX_XSTATE_SIZE, FRAME_BYTES_TAKEN) + 64;
/** Total bytes kept for found frames. */
const MAX_SNAPSHOT_BYTES = 256 << 20;
/** Most bytes a second pass keeps for deferred hits. */
const MAX_DEFERRED_BYTES = 256 << 20;

/** The frames' bytes, as `check` reads them back after a streamed scan. */
export class SnapshotMemory implements MemoryImage {
  private readonly regs: readonly MemoryRegion[];
  private readonly gaps: readonly MissingRange[];
  readonly snapshots = new Map<bigint, Uint8Array>();
  constructor(regions: readonly MemoryRegion[], missing: readonly MissingRange[]) {
    this.regs = regions;
    this.gaps = missing;
  }
  regions(): readonly MemoryRegion[] {
    return this.regs;
  }
  missing(): readonly MissingRange[] {
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

/**
 * Chosen byte ranges of a stream, kept as it goes by (a second pass over the same stream): the
 * bytes deferred hits need. Reads are answered only inside one kept range.
 */
export class StreamCapture {
  private readonly parts: { from: number; to: number; bytes: Uint8Array }[];
  private pos = 0;
  private next = 0;
  constructor(ranges: readonly { from: number; to: number }[]) {
    const sorted = [...ranges].filter((r) => r.to > r.from).sort((a, b) => a.from - b.from);
    const merged: { from: number; to: number }[] = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last && r.from <= last.to) last.to = Math.max(last.to, r.to);
      else merged.push({ ...r });
    }
    this.parts = merged.map((r) => ({ ...r, bytes: new Uint8Array(r.to - r.from) }));
  }
  /** The next bytes of the stream (from offset 0 on). */
  push(chunk: Uint8Array): void {
    const from = this.pos;
    const to = from + chunk.length;
    this.pos = to;
    while (this.next < this.parts.length && this.parts[this.next]!.to <= from) this.next++;
    for (let k = this.next; k < this.parts.length && this.parts[k]!.from < to; k++) {
      const p = this.parts[k]!;
      const a = Math.max(from, p.from);
      const b = Math.min(to, p.to);
      if (b > a) p.bytes.set(chunk.subarray(a - from, b - from), a - p.from);
    }
  }
  get position(): number {
    return this.pos;
  }
  get(offset: number, len: number): Uint8Array | undefined {
    for (const p of this.parts)
      if (offset >= p.from && offset + len <= p.to && offset + len <= this.pos)
        return p.bytes.subarray(offset - p.from, offset - p.from + len);
    return undefined;
  }
}

/** Two runs that touch in the address space but lie apart in the stream: 3 bytes each side. */
interface Seam {
  addr: bigint;
  /** Stream offsets of the 3 bytes below the seam and the 3 above it. */
  below: number;
  above: number;
  bytes: Uint8Array;
  have: number;
}

/** Runs by stream offset, those contiguous in both the address space and the stream joined. */
function joinRuns(runs: readonly StreamRun[]): StreamRun[] {
  const sorted = runs.filter((r) => r.end > r.start).sort((a, b) => a.offset - b.offset);
  const out: StreamRun[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start === last.end && r.offset === last.offset + Number(last.end - last.start))
      last.end = r.end;
    else out.push({ ...r });
  }
  return out;
}

const runLength = (r: StreamRun) => Number(r.end - r.start);

export class StreamScanner implements FrameReader {
  private regions: MemoryRegion[];
  private readonly byOffset: StreamRun[];
  private readonly byAddr: StreamRun[];
  private readonly opts: ScanOptions;
  private readonly c: Candidates = emptyCandidates();
  private readonly snapshots = new Map<bigint, Uint8Array>();
  private win = new Uint8Array(1 << 20);
  /** Stream offset of win[0], and how many bytes of win are valid. */
  private winStart = 0;
  private winLen = 0;
  /** Next stream offset whose magic1 candidate has not been looked at. */
  private scanFrom = 0;
  private readonly pending: { addr: bigint; off: number }[] = [];
  /** findMagic1's output, reused for every run of every push. */
  private readonly found: number[] = [];
  private pendingHead = 0;
  private snapshotBytes = 0;
  private readonly notes: string[] = [];
  private readonly total: number;
  private readonly seams: Seam[] = [];
  /** Seam byte spans in stream order: [offset, seam, side]. */
  private readonly seamSpans: [number, Seam, 0 | 3][] = [];
  private seamNext = 0;
  /** Hits whose bytes are in the stream but not in the window when examined. */
  private readonly deferred: bigint[] = [];
  /** A read needed bytes the stream has but the window does not hold. */
  private crossed = false;
  /** Set when the stream has ended: bytes past it are not present. */
  private ended = false;
  private snapshotsDropped = 0;

  constructor(regions: readonly MemoryRegion[], runs: readonly StreamRun[], opts: ScanOptions = {}) {
    this.regions = sortedRegions(regions);
    this.byOffset = joinRuns(runs);
    this.byAddr = [...this.byOffset].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.opts = opts;
    let total = 0;
    for (const r of this.byOffset) total += runLength(r);
    this.total = opts.totalBytes ?? total;
    for (let i = 1; i < this.byAddr.length; i++) {
      const a = this.byAddr[i - 1]!;
      const b = this.byAddr[i]!;
      if (a.end !== b.start || runLength(a) < 3 || runLength(b) < 3) continue;
      const s: Seam = {
        addr: a.end,
        below: a.offset + runLength(a) - 3,
        above: b.offset,
        bytes: new Uint8Array(6),
        have: 0,
      };
      this.seams.push(s);
      this.seamSpans.push([s.below, s, 0], [s.above, s, 3]);
    }
    this.seamSpans.sort((x, y) => x[0] - y[0]);
  }

  /** The stream offset past the last byte pushed. */
  get position(): number {
    return this.winStart + this.winLen;
  }

  /**
   * The next bytes of the stream. A chunk is searched where it lies; only when it holds a hit (or
   * one is still waiting for its bytes) is it appended to the window, otherwise the window keeps
   * just its last bytes (what a hit in the next chunk needs below it): the common chunk, with no
   * magic1 in it, is never copied.
   */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    const from = this.position;
    if (this.pendingHead < this.pending.length || n <= 2 * BEHIND) {
      this.append(chunk);
      this.countScanned(from, this.position);
      this.keepSeams();
      this.findHits(this.position - 3);
      this.examineReady(false);
      return;
    }
    // The dwords that straddle the window's end and the chunk's start: the chunk's first 3 bytes
    // are appended, and the positions before the chunk searched in the window.
    this.append(chunk.subarray(0, 3));
    this.findHits(from);
    this.findHits(from + n - 3, chunk, from, from + n);
    this.countScanned(from, from + n);
    if (this.pendingHead < this.pending.length) {
      // A hit: the window holds the chunk's bytes from here on, for its examination.
      this.append(chunk.subarray(3));
      this.keepSeams();
      this.examineReady(false);
      return;
    }
    this.keepSeams(chunk, from);
    // Nothing waits: keep the chunk's last bytes only (no hit below them can need more).
    this.win.set(chunk.subarray(n - BEHIND));
    this.winStart = from + n - BEHIND;
    this.winLen = BEHIND;
  }

  /** Appends bytes to the window (dropping what no hit can need any more). */
  private append(bytes: Uint8Array): void {
    this.compact(bytes.length);
    this.win.set(bytes, this.winLen);
    this.winLen += bytes.length;
  }

  /** The stream has ended: examines what is left (idempotent). */
  close(): void {
    if (this.ended) return;
    this.findHits(this.position);
    this.ended = true;
    this.examineReady(true);
    this.seamHits();
  }

  /** Hits that need bytes of a second pass (see the module comment). */
  get deferredHits(): readonly bigint[] {
    return this.deferred;
  }

  /** The stream ranges a second pass must keep for the deferred hits. */
  deferredRanges(): { from: number; to: number }[] {
    const out: { from: number; to: number }[] = [];
    let total = 0;
    for (const addr of this.deferred) {
      const lo = addr - BigInt(BEHIND);
      const hi = addr + BigInt(AHEAD);
      for (const r of this.byAddr) {
        if (r.end <= lo || r.start >= hi) continue;
        const a = r.start > lo ? r.start : lo;
        const b = r.end < hi ? r.end : hi;
        const from = r.offset + Number(a - r.start);
        out.push({ from, to: from + Number(b - a) });
        total += Number(b - a);
      }
    }
    if (total > MAX_DEFERRED_BYTES)
      throw new RangeError(
        `${this.deferred.length} magic1 hits straddle runs stored apart: more than ${MAX_DEFERRED_BYTES} bytes to keep`,
      );
    return out;
  }

  /** Examines the deferred hits from a second pass's capture (`deferredRanges`). */
  examineDeferred(capture: StreamCapture): void {
    const reader: FrameReader = { read: (addr, len) => this.readFrom(addr, len, capture) };
    const hits = this.deferred.splice(0);
    for (const addr of hits) this.examineHit(addr, reader, true);
  }

  /**
   * Ends the scan and decides liveness (with the image's threads). `regions` and `missing` replace
   * the ones given at the start where the caller knows them better by now (a core's mapping names,
   * its segments not dumped).
   */
  end(
    extra: Pick<ScanOptions, "threads" | "otherMappings"> & {
      regions?: readonly MemoryRegion[];
      missing?: readonly MissingRange[];
    } = {},
  ): { result: ScanResult; memory: SnapshotMemory } {
    this.close();
    if (this.deferred.length) {
      const hits = this.deferred.splice(0);
      const n = hits.length;
      for (const addr of hits) this.examineHit(addr, this, true);
      this.notes.push(
        `${n} magic1 hit${n === 1 ? "" : "s"} next to memory stored elsewhere in the stream ${n === 1 ? "was" : "were"} examined only as far as one pass allows`,
      );
    }
    const { regions: newRegions, missing: newMissing, ...scanExtra } = extra;
    if (newRegions) this.regions = sortedRegions(newRegions);
    const opts: ScanOptions = { ...this.opts, ...scanExtra };
    const ctx = examineContext(this.regions, opts);
    for (const f of this.c.frames) f.problems.push(...mappingProblems(f, ctx));
    this.c.rejected.sort((a, b) => (a.magic1 < b.magic1 ? -1 : a.magic1 > b.magic1 ? 1 : 0));
    const missing = newMissing ? [...newMissing] : this.truncated();
    const memory = new SnapshotMemory(this.regions, missing);
    for (const [k, v] of this.snapshots) memory.snapshots.set(k, v);
    const result = resolveScan(this.c, this.regions, missing, opts);
    result.notes.push(...this.notes);
    if (this.snapshotsDropped)
      result.notes.push(
        `the bytes of ${this.snapshotsDropped} frame(s) past the first ${MAX_SNAPSHOT_BYTES >> 20} MiB were not kept`,
      );
    return { result, memory };
  }

  /** Runs the stream did not reach (it ended early). */
  private truncated(): MissingRange[] {
    const missing: MissingRange[] = [];
    const endOff = this.position;
    for (const r of this.byOffset) {
      const len = runLength(r);
      if (r.offset + len <= endOff) continue;
      const from = r.offset >= endOff ? r.start : r.start + BigInt(endOff - r.offset);
      missing.push({ start: from, end: r.end, why: "past the end of the truncated stream" });
    }
    return missing.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
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
      if (r.offset + runLength(r) <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private countScanned(from: number, to: number): void {
    let n = 0;
    for (let k = this.firstRunAfter(from); k < this.byOffset.length && this.byOffset[k]!.offset < to; k++) {
      const r = this.byOffset[k]!;
      const a = Math.max(from, r.offset);
      const b = Math.min(to, r.offset + runLength(r));
      if (b > a) n += b - a;
    }
    if (n > 0) {
      this.c.bytesScanned += n;
      this.opts.onProgress?.(this.c.bytesScanned, Math.max(this.total, this.c.bytesScanned));
    }
  }

  /**
   * Copies the bytes on each side of a seam once the stream has passed them, from the window or
   * from a chunk that was not appended to it (`chunk` at stream offset `chunkAt`).
   */
  private keepSeams(chunk?: Uint8Array, chunkAt = 0): void {
    const pos = chunk ? chunkAt + chunk.length : this.position;
    while (this.seamNext < this.seamSpans.length && this.seamSpans[this.seamNext]![0] + 3 <= pos) {
      const [off, s, side] = this.seamSpans[this.seamNext++]!;
      if (off < this.winStart) continue;
      for (let k = 0; k < 3; k++) {
        const o = off + k;
        const w = o - this.winStart;
        s.bytes[side + k] = chunk && o >= chunkAt ? chunk[o - chunkAt]! : this.win[w]!;
      }
      s.have++;
    }
  }

  /** magic1 dwords that straddle a seam (their bytes were never in the window together). */
  private seamHits(): void {
    for (const s of this.seams) {
      if (s.have < 2) continue;
      for (let k = 0; k < 3; k++) {
        const addr = s.addr - 3n + BigInt(k);
        if (!this.opts.all && Number(((addr % 64n) + 64n) % 64n) !== MAGIC1_ALIGN_REMAINDER) continue;
        const b = s.bytes;
        if (b[k] === 0x53 && b[k + 1] === 0x58 && b[k + 2] === 0x50 && b[k + 3] === 0x46)
          this.deferred.push(addr);
      }
    }
  }

  /**
   * Looks for magic1 at stream offsets [scanFrom, limit) (each position once), in the window or in
   * `buf` (stream offset `base` at buf[0], bytes up to stream offset `avail` present).
   */
  private findHits(
    limit: number,
    buf: Uint8Array = this.win,
    base = this.winStart,
    avail = this.position,
  ): void {
    const from = this.scanFrom;
    if (limit <= from) return;
    this.scanFrom = limit;
    for (
      let k = this.firstRunAfter(from);
      k < this.byOffset.length && this.byOffset[k]!.offset < limit;
      k++
    ) {
      const r = this.byOffset[k]!;
      const rEnd = r.offset + runLength(r);
      const a = Math.max(from, r.offset);
      const b = Math.min(limit, rEnd);
      if (b <= a) continue;
      const addrOf = (off: number) => r.start + BigInt(off - r.offset);
      // Positions a..b-1 whose 4 bytes are inside this run and have arrived.
      const at = a - base;
      const end = Math.min(b + 3, rEnd, avail) - base;
      const found = this.found;
      found.length = 0;
      findMagic1(buf, at, end, found, this.opts.all ? undefined : firstAligned(at, addrOf(a)));
      for (const i of found) this.pending.push({ addr: addrOf(i + base), off: i + base });
    }
  }

  private examineReady(all: boolean): void {
    const head = this.position;
    while (this.pendingHead < this.pending.length) {
      const h = this.pending[this.pendingHead]!;
      if (!all && h.off + AHEAD > head) break;
      this.pendingHead++;
      this.examineHit(h.addr, this);
    }
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /**
   * Examines one hit through `reader` (the window, or a second pass's capture) and keeps a found
   * frame's bytes; a hit that needed bytes the reader does not hold is deferred, unless `anyway`.
   */
  private examineHit(addr: bigint, reader: FrameReader, anyway = false): void {
    this.crossed = false;
    // The mapping checks wait for the end (examineContext there), when every mapping is known.
    const e = examine(reader, addr, {});
    let bytes: Uint8Array | undefined;
    if (e.kind === "frame") bytes = this.frameBytes(e.frame, reader);
    if (this.crossed && !anyway) {
      this.deferred.push(addr);
      return;
    }
    addExamined(this.c, e, this.opts);
    if (e.kind !== "frame" || !bytes) return;
    if (this.snapshotBytes + bytes.length > MAX_SNAPSHOT_BYTES) {
      this.snapshotsDropped++;
      return;
    }
    this.snapshots.set(e.frame.frame, bytes);
    this.snapshotBytes += bytes.length;
  }

  /**
   * The bytes kept of a found frame: from pretcode (the frame address: `scan --save-frames` and
   * the frame's decoded state read from there) to what `check` takes past fpstate
   * (scan/cases.ts foundFrameCase reads the same). The rt_sigframe below fpstate is within BEHIND.
   */
  private frameBytes(f: KernelFrame, reader: FrameReader): Uint8Array | undefined {
    const ext = f.sw.extendedSize;
    const head = Number(f.fpstate - f.frame);
    const region = this.regions.find((r) => f.frame >= r.start && f.frame < r.end);
    const mapped = region ? Number(region.end - f.fpstate) : ext;
    const want = Math.max(ext, Math.min(mapped, FRAME_BYTES_TAKEN));
    return reader.read(f.frame, head + want) ?? reader.read(f.frame, head + ext);
  }

  /** FrameReader over the window: bytes at [addr, addr+len) if present and still held. */
  read(addr: bigint, len: number): Uint8Array | undefined {
    return this.readFrom(addr, len, undefined);
  }

  /**
   * Bytes at [addr, addr+len) when every byte is present (possibly across runs, as a random-access
   * image reads them), from the window or from a capture. Bytes that are present in the stream but
   * not held set `crossed`.
   */
  private readFrom(addr: bigint, len: number, capture: StreamCapture | undefined): Uint8Array | undefined {
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
    const pieces: { off: number; n: number }[] = [];
    for (let at = addr, j = i; at < end; j++) {
      const r = runs[j];
      if (!r || r.start > at) return undefined;
      const to = r.end < end ? r.end : end;
      const n = Number(to - at);
      const off = r.offset + Number(at - r.start);
      // Past the end of a stream that ended early: not present, as in a truncated file.
      if (this.ended && off + n > this.position) return undefined;
      pieces.push({ off, n });
      at = to;
    }
    if (pieces.length === 1 && !capture) {
      const from = pieces[0]!.off - this.winStart;
      if (from < 0 || from + len > this.winLen) {
        this.crossed = true;
        return undefined;
      }
      return this.win.slice(from, from + len);
    }
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of pieces) {
      let b: Uint8Array | undefined;
      if (capture) b = capture.get(p.off, p.n);
      else {
        const from = p.off - this.winStart;
        if (from >= 0 && from + p.n <= this.winLen) b = this.win.subarray(from, from + p.n);
      }
      if (!b) {
        this.crossed = true;
        return undefined;
      }
      out.set(b, o);
      o += p.n;
    }
    return out;
  }
}
