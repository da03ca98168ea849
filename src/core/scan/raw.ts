/**
 * A raw memory image: a file whose byte 0 is at virtual address `base`. One region, no
 * permissions known, every byte present. Reads go through a ByteSource, so the file is never held
 * in memory.
 */
import { UsageError } from "../errors.ts";
import { SourceMemory } from "../memory.ts";
import type { ByteSource } from "../source.ts";

export class RawMemory extends SourceMemory {
  readonly base: bigint;

  constructor(src: ByteSource, base: bigint, name = "raw image") {
    if (base < 0n || base + BigInt(src.size) > 1n << 64n)
      throw new UsageError(
        `--base 0x${base.toString(16)} + ${src.size} bytes runs past the 64-bit address space`,
      );
    const end = base + BigInt(src.size);
    super(
      src,
      src.size > 0 ? [{ start: base, end, perm: "rw-", name }] : [],
      src.size > 0 ? [{ start: base, end, fileOffset: 0 }] : [],
    );
    this.base = base;
  }
}
