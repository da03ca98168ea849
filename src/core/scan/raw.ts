/**
 * A raw memory image: a file whose byte 0 is at virtual address `base`. One region, no
 * permissions known, every byte present. Reads go through a ByteSource, so the file is never held
 * in memory.
 */
import { UsageError } from "../errors.ts";
import type { MemoryChunk, MemoryImage, MemoryRegion } from "../memory.ts";
import type { ByteSource } from "../source.ts";

export class RawMemory implements MemoryImage {
  readonly base: bigint;
  private readonly src: ByteSource;
  private readonly regs: MemoryRegion[];

  constructor(src: ByteSource, base: bigint, name = "raw image") {
    if (base < 0n || base + BigInt(src.size) > 1n << 64n)
      throw new UsageError(
        `--base 0x${base.toString(16)} + ${src.size} bytes runs past the 64-bit address space`,
      );
    this.src = src;
    this.base = base;
    this.regs = src.size > 0 ? [{ start: base, end: base + BigInt(src.size), perm: "rw-", name }] : [];
  }

  regions(): readonly MemoryRegion[] {
    return this.regs;
  }

  read(addr: bigint, len: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(len) || len < 0) return undefined;
    if (addr < this.base) return undefined;
    const off = addr - this.base;
    if (off + BigInt(len) > BigInt(this.src.size)) return undefined;
    return this.src.read(Number(off), len).slice();
  }

  *chunks(maxChunk: number, overlap: number): Iterable<MemoryChunk> {
    if (!(maxChunk > 0)) throw new RangeError("maxChunk must be positive");
    const ov = Math.max(0, Math.min(overlap, maxChunk));
    const size = this.src.size;
    for (let off = 0; off < size; off += maxChunk) {
      const from = Math.max(0, off - ov);
      const n = Math.min(size, off + maxChunk) - from;
      yield { addr: this.base + BigInt(from), bytes: this.src.read(from, n) };
    }
  }
}
