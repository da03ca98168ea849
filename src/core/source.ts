/**
 * Random access to a possibly very large binary input (an ELF core, a CRIU pages file) without
 * holding it in memory. The pure core reads through this interface; the node side backs it with a
 * file descriptor, tests and the browser with a Uint8Array.
 */
import { TruncatedInputError } from "./errors.ts";

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * The bytes at [offset, offset+length). Throws TruncatedInputError when the range is not
   * entirely inside [0, size). The result may be a view that is only valid until the next read:
   * copy it if you keep it.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Sequential reading for scans: the bytes at [offset, offset+length) in a buffer the source
   * reuses, valid only until the next `readView` (no allocation, no copy for sources already in
   * memory). Sources without it are read with `read`.
   */
  readView?(offset: number, length: number): Uint8Array;
}

/** Throws TruncatedInputError unless [offset, offset+length) lies inside a source of `size` bytes. */
export function checkRange(size: number, offset: number, length: number, path = "read"): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new TruncatedInputError(
      `input ends at ${size} bytes; ${path} needs ${length} bytes at offset ${offset}`,
      { offset: Number.isSafeInteger(offset) ? offset : undefined, path },
    );
  }
}

/** A ByteSource over bytes already in memory (reads are zero-copy subarrays). */
export function bytesSource(u8: Uint8Array): ByteSource {
  const read = (offset: number, length: number): Uint8Array => {
    checkRange(u8.length, offset, length);
    return u8.subarray(offset, offset + length);
  };
  return { size: u8.length, read, readView: read };
}
