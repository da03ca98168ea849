/**
 * The x86 bzImage boot header (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header"):
 * enough of it to find the compressed kernel (payload_offset/payload_length, protocol 2.08+) and
 * the version string, so that abi-test can boot the decompressed ELF through its PVH entry point
 * instead of letting an emulated CPU run the decompressor (seconds under TCG). The kernel build
 * appends the decompressed size as a little-endian u32 to the payload (scripts/Makefile.lib
 * size_append).
 */
import { InvalidDataError, TruncatedInputError } from "./errors.ts";

export type PayloadCompression = "gzip" | "bzip2" | "lzma" | "xz" | "lzo" | "lz4" | "zstd" | "unknown";

export interface BzImage {
  /** Boot protocol version, e.g. 0x20f. */
  protocol: number;
  /** The kernel_version string ("6.1.0-50-amd64 (debian-kernel@…) #1 SMP …"), where present. */
  version?: string;
  compression: PayloadCompression;
  /** The compressed kernel, without the size the build appends. */
  payload: Uint8Array;
  /** The decompressed size the build appended. */
  decompressedSize: number;
}

const MAGICS: [PayloadCompression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lzma", [0x5d, 0x00, 0x00]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
];

export function parseBzImage(b: Uint8Array): BzImage {
  if (b.length < 0x250)
    throw new TruncatedInputError("shorter than a bzImage boot header", { offset: b.length });
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0x202, true) !== 0x53726448)
    // "HdrS"
    throw new InvalidDataError("not an x86 bzImage (no 'HdrS' boot header)", { offset: 0x202 });
  const protocol = dv.getUint16(0x206, true);
  if (protocol < 0x208)
    throw new InvalidDataError(`boot protocol ${protocol.toString(16)} predates payload_offset (2.08)`, {
      offset: 0x206,
    });
  const setupSects = b[0x1f1] || 4;
  const start = (setupSects + 1) * 512;
  const off = start + dv.getUint32(0x248, true);
  const len = dv.getUint32(0x24c, true);
  if (len < 4 || off + len > b.length)
    throw new TruncatedInputError("the compressed kernel runs past the end of the file", { offset: off });
  const raw = b.subarray(off, off + len);
  const compression = MAGICS.find(([, m]) => m.every((x, i) => raw[i] === x))?.[0] ?? "unknown";
  const out: BzImage = {
    protocol,
    compression,
    payload: raw.subarray(0, len - 4),
    decompressedSize: dv.getUint32(off + len - 4, true),
  };
  const vptr = dv.getUint16(0x20e, true);
  if (vptr) {
    const at = vptr + 0x200;
    let end = at;
    while (end < b.length && end - at < 256 && b[end] !== 0) end++;
    out.version = String.fromCharCode(...b.subarray(at, end));
  }
  return out;
}

/** Whether an ELF64 image carries the PVH entry note (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, 18). */
export function hasPvhNote(elf: Uint8Array): boolean {
  if (
    elf.length < 64 ||
    elf[0] !== 0x7f ||
    elf[1] !== 0x45 ||
    elf[2] !== 0x4c ||
    elf[3] !== 0x46 ||
    elf[4] !== 2
  )
    return false;
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || dv.getUint32(ph, true) !== 4) continue; // PT_NOTE
    const off = Number(dv.getBigUint64(ph + 8, true));
    const size = Number(dv.getBigUint64(ph + 32, true));
    for (let p = off; p + 12 <= Math.min(off + size, elf.length); ) {
      const namesz = dv.getUint32(p, true);
      const descsz = dv.getUint32(p + 4, true);
      const type = dv.getUint32(p + 8, true);
      const name = String.fromCharCode(...elf.subarray(p + 12, p + 12 + Math.max(0, namesz - 1)));
      if (name === "Xen" && type === 18) return true;
      p += 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4;
    }
  }
  return false;
}
