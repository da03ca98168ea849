/**
 * A process's memory as a checkpoint or core file holds it: a set of mapped regions, some of whose
 * bytes are present. CRIU (pagemap + pages), ELF cores (PT_LOAD) and raw images all implement
 * this, so the scanner and `check --checkpoint` work on any of them.
 */
import { InvalidDataError } from "./errors.ts";

export interface MemoryRegion {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** "r", "w", "x" letters as in /proc/pid/maps, "-" where absent, e.g. "rw-". */
  perm: string;
  /** Mapping name where known: "[stack]", a file path, "[heap]"… */
  name?: string;
}

/** A run of bytes that is present in the image. */
export interface MemoryChunk {
  addr: bigint;
  bytes: Uint8Array;
}

export interface MemoryImage {
  /** VMAs (what was mapped), ascending. */
  regions(): readonly MemoryRegion[];
  /**
   * Bytes at [addr, addr+len) if every byte is present in the image; undefined otherwise (unmapped,
   * not dumped, in a parent image, lazy). Never allocates more than `len`.
   */
  read(addr: bigint, len: number): Uint8Array | undefined;
  /**
   * The present bytes in ascending address order, in chunks of at most `maxChunk` bytes (plus an
   * overlap of `overlap` bytes carried from the previous chunk of a contiguous run, so signatures
   * that straddle a chunk boundary are seen). Memory stays bounded whatever the image size. A
   * chunk's bytes may be a buffer the image reuses: valid only until the next chunk is asked for.
   */
  chunks(maxChunk: number, overlap: number): Iterable<MemoryChunk>;
  /** Regions or pages that exist but whose contents are not here (in_parent, lazy…). */
  missing?(): readonly { start: bigint; end: bigint; why: string }[];
}

/** Finds the region containing `addr`. */
export function regionAt(mem: MemoryImage, addr: bigint): MemoryRegion | undefined {
  for (const r of mem.regions()) if (addr >= r.start && addr < r.end) return r;
  return undefined;
}

/** Bytes of the address space [start, end) stored at `fileOffset` in a byte source. */
export interface PresentRun {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  fileOffset: number;
}

/** Source of present bytes: a file (pages-N.img, a core, a raw image) read at offsets. */
export interface RunSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  /** As ByteSource.readView: a view into a buffer the source reuses. */
  readView?(offset: number, length: number): Uint8Array;
}

/**
 * A MemoryImage whose present bytes are runs of a byte source: CRIU pages files, ELF PT_LOAD
 * segments and raw images are all this. Reads check coverage before allocating; `chunks()` streams
 * each contiguous span in bounded pieces.
 */
export class SourceMemory implements MemoryImage {
  private readonly src: RunSource | undefined;
  private readonly regs: readonly MemoryRegion[];
  /** Ascending, non-overlapping. */
  protected readonly present: readonly PresentRun[];
  private readonly gaps: readonly { start: bigint; end: bigint; why: string }[];

  constructor(
    src: RunSource | undefined,
    regions: readonly MemoryRegion[],
    present: readonly PresentRun[],
    missing: readonly { start: bigint; end: bigint; why: string }[] = [],
  ) {
    this.src = src;
    this.regs = regions;
    this.present = src
      ? [...present].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
      : [];
    // Readers refuse overlapping segments or page runs with their own field paths; an address
    // with two sources of bytes would make reads and chunks disagree, so it is refused here too.
    for (let i = 1; i < this.present.length; i++) {
      const prev = this.present[i - 1]!;
      const r = this.present[i]!;
      if (r.start < prev.end)
        throw new InvalidDataError(
          `the bytes at 0x${r.start.toString(16)} are stored twice (runs at file offsets ${prev.fileOffset} and ${r.fileOffset} overlap)`,
          { offset: r.fileOffset },
        );
    }
    this.gaps = missing;
  }

  regions(): readonly MemoryRegion[] {
    return this.regs;
  }

  missing(): readonly { start: bigint; end: bigint; why: string }[] {
    return this.gaps;
  }

  /** Bytes of memory whose contents are present. */
  presentBytes(): number {
    let n = 0;
    for (const r of this.present) n += Number(r.end - r.start);
    return n;
  }

  /** Index of the present run containing `addr`, or -1. */
  private runAt(addr: bigint): number {
    let lo = 0;
    let hi = this.present.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.present[mid]!;
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  read(addr: bigint, len: number): Uint8Array | undefined {
    if (len < 0 || !Number.isSafeInteger(len)) return undefined;
    if (len === 0) return new Uint8Array(0);
    const end = addr + BigInt(len);
    let i = this.runAt(addr);
    if (i < 0) return undefined;
    // Every byte must be present (possibly across adjacent runs) before anything is allocated.
    for (let j = i, at = addr; ; j++) {
      const r = this.present[j];
      if (!r || r.start > at) return undefined;
      if (r.end >= end) break;
      at = r.end;
    }
    const out = new Uint8Array(len);
    for (let at = addr; at < end; i++) {
      const r = this.present[i]!;
      const n = Number((r.end < end ? r.end : end) - at);
      out.set(this.src!.read(r.fileOffset + Number(at - r.start), n), Number(at - addr));
      at += BigInt(n);
    }
    return out;
  }

  /**
   * Pieces of each contiguous span, read sequentially: a piece inside one run is the source's own
   * reused buffer (`readView`: no allocation, no copy for a file), a piece across runs is put
   * together in one scratch buffer. Either is valid only until the next piece is asked for.
   */
  *chunks(maxChunk: number, overlap: number): Iterable<MemoryChunk> {
    if (!(maxChunk > 0)) throw new RangeError("maxChunk must be positive");
    const src = this.src;
    if (!src) return;
    const view = (offset: number, length: number) =>
      src.readView ? src.readView(offset, length) : src.read(offset, length);
    const ov = BigInt(Math.max(0, Math.min(overlap, maxChunk)));
    const step = BigInt(maxChunk);
    let scratch: Uint8Array | undefined;
    for (let i = 0; i < this.present.length; ) {
      // A span of runs that are contiguous in the address space.
      const spanStart = this.present[i]!.start;
      let spanEnd = this.present[i]!.end;
      let j = i + 1;
      while (j < this.present.length && this.present[j]!.start === spanEnd) spanEnd = this.present[j++]!.end;
      let k = i;
      for (let at = spanStart; at < spanEnd; at += step) {
        const from = at - (at - spanStart < ov ? at - spanStart : ov);
        const to = spanEnd - at < step ? spanEnd : at + step;
        while (this.present[k]!.end <= from) k++;
        const r = this.present[k]!;
        if (to <= r.end) {
          yield { addr: from, bytes: view(r.fileOffset + Number(from - r.start), Number(to - from)) };
          continue;
        }
        scratch ??= new Uint8Array(maxChunk + Number(ov));
        let n = 0;
        for (let q = k, pos = from; pos < to; q++) {
          const run = this.present[q]!;
          const m = Number((run.end < to ? run.end : to) - pos);
          scratch.set(view(run.fileOffset + Number(pos - run.start), m), n);
          n += m;
          pos += BigInt(m);
        }
        yield { addr: from, bytes: scratch.subarray(0, n) };
      }
      i = j;
    }
  }
}
