/** Where the structurally interesting bytes of the sweep's valid inputs are. */

/** ELF64 core: header fields, every program header's fields, every note header. */
export function elfSpots(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = [0, 4, 5, 16, 18, 32, 40, 52, 54, 56, 58, 60, 62, 64];
  if (b.length < 64) return out;
  const phoff = Number(dv.getBigUint64(32, true));
  const phnum = dv.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + 56 * i;
    if (ph + 56 > b.length) break;
    // p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    for (const f of [0, 4, 8, 16, 24, 32, 40, 48]) out.push(ph + f);
    if (dv.getUint32(ph, true) === 4) {
      const off = Number(dv.getBigUint64(ph + 8, true));
      const size = Number(dv.getBigUint64(ph + 32, true));
      let o = off;
      while (o + 12 <= Math.min(off + size, b.length)) {
        const namesz = dv.getUint32(o, true);
        const descsz = dv.getUint32(o + 4, true);
        out.push(o, o + 4, o + 8);
        const desc = o + 12 + ((namesz + 3) & ~3);
        // the first words of each note's descriptor (counts, sizes of NT_FILE and friends)
        out.push(desc, desc + 8, desc + 16);
        o = desc + ((descsz + 3) & ~3);
      }
    }
  }
  return out;
}

/** CRIU image: the magics, every entry's size field and the first bytes of its payload. */
export function criuSpots(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = [0, 4, 8];
  if (b.length < 4) return out;
  let off = dv.getUint32(0, true) === 0x58313116 ? 4 : 8;
  while (off + 4 <= b.length) {
    const size = dv.getUint32(off, true);
    out.push(off, off + 4, off + 5, off + 6);
    off += 4 + size;
  }
  return out;
}

/** A kernel-style frame: the frame header, the fpstate pointer, sw_bytes, the XSAVE header, magic2. */
export function frameSpots(fpstateOffset: number, xstateSize: number, size: number): number[] {
  const fp = fpstateOffset;
  const out = [0, 8, 16, 24, 32, 40, 48, 56, 64, 160, 216, 224, 232, 240, 256, 280, 304, 440];
  for (const f of [0, 24, 28, 416, 464, 468, 472, 480, 484, 512, 520, 528, 576, xstateSize, xstateSize + 4])
    out.push(fp + f);
  out.push(size - 4, size - 1);
  return out;
}
