/**
 * A process's memory as a checkpoint or core file holds it: a set of mapped regions, some of whose
 * bytes are present. CRIU (pagemap + pages), ELF cores (PT_LOAD) and raw images all implement
 * this, so the scanner and `check --checkpoint` work on any of them.
 */

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
   * that straddle a chunk boundary are seen). Memory stays bounded whatever the image size.
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
