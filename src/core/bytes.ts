/**
 * Bounds-checked little-endian access to a byte buffer. Every read names the field it reads, so
 * a short input fails with the byte offset and field path of the first field that does not fit.
 */
import { TruncatedInputError } from "./errors.ts";

export class ByteView {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  /** Added to offsets in error messages (where this view starts in the whole input). */
  readonly base: number;

  constructor(bytes: Uint8Array, base = 0) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = base;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws TruncatedInputError unless [off, off+size) lies inside the buffer. */
  need(off: number, size: number, path: string): void {
    if (off < 0 || size < 0 || off + size > this.bytes.length) {
      throw new TruncatedInputError(
        `input ends at ${this.base + this.bytes.length} bytes; ${path} needs ${size} bytes at offset ${this.base + off}`,
        { offset: this.base + off, path },
      );
    }
  }

  has(off: number, size: number): boolean {
    return off >= 0 && off + size <= this.bytes.length;
  }

  u8(off: number, path: string): number {
    this.need(off, 1, path);
    return this.bytes[off]!;
  }
  u16(off: number, path: string): number {
    this.need(off, 2, path);
    return this.dv.getUint16(off, true);
  }
  u32(off: number, path: string): number {
    this.need(off, 4, path);
    return this.dv.getUint32(off, true);
  }
  i32(off: number, path: string): number {
    this.need(off, 4, path);
    return this.dv.getInt32(off, true);
  }
  u64(off: number, path: string): bigint {
    this.need(off, 8, path);
    return this.dv.getBigUint64(off, true);
  }
  slice(off: number, size: number, path: string): Uint8Array {
    this.need(off, size, path);
    return this.bytes.subarray(off, off + size);
  }
  sub(off: number, size: number, path: string): ByteView {
    this.need(off, size, path);
    return new ByteView(this.bytes.subarray(off, off + size), this.base + off);
  }
}

/** Little-endian writes into a fixed buffer (encoders size their buffer up front). */
export class ByteWriter {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  constructor(size: number | Uint8Array) {
    this.bytes = typeof size === "number" ? new Uint8Array(size) : size;
    this.dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u8(off: number, v: number): void {
    this.dv.setUint8(off, v);
  }
  u16(off: number, v: number): void {
    this.dv.setUint16(off, v, true);
  }
  u32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }
  u64(off: number, v: bigint): void {
    this.dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  }
  set(off: number, b: Uint8Array): void {
    this.bytes.set(b, off);
  }
}
