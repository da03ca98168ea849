/**
 * Rewrites an ELF core with the same memory and notes in another file layout, as other writers
 * (or a kernel that orders segments by size) lay them out: segments split at given addresses,
 * stored in reverse order, notes or the program headers after the data, the segment count in
 * section header 0 (PN_XNUM). Read at random, every such file is the same process as the input.
 */

export interface Layout {
  /** Store the segments' data in reverse address order. */
  reverse?: boolean;
  /** Split PT_LOAD segments at these addresses (into two segments). */
  splitAt?: bigint[];
  /** Put the PT_NOTE data after the segments' data. */
  notesLast?: boolean;
  /** Put the program header table after the segments' data. */
  phdrsLast?: boolean;
  /** e_phnum = PN_XNUM, the count in section header 0 at the end of the file. */
  xnum?: boolean;
}

interface Ph {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: bigint;
  align: bigint;
  data: Uint8Array;
}

const PT_LOAD = 1;

export function relayoutCore(core: Uint8Array, o: Layout): Uint8Array {
  const dv = new DataView(core.buffer, core.byteOffset, core.byteLength);
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  let phs: Ph[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const offset = Number(dv.getBigUint64(at + 8, true));
    const filesz = Number(dv.getBigUint64(at + 32, true));
    phs.push({
      type: dv.getUint32(at, true),
      flags: dv.getUint32(at + 4, true),
      offset,
      vaddr: dv.getBigUint64(at + 16, true),
      filesz,
      memsz: dv.getBigUint64(at + 40, true),
      align: dv.getBigUint64(at + 48, true),
      data: core.subarray(offset, offset + filesz),
    });
  }
  for (const cut of o.splitAt ?? []) {
    phs = phs.flatMap((p) => {
      if (p.type !== PT_LOAD || cut <= p.vaddr || cut >= p.vaddr + BigInt(p.filesz)) return [p];
      const n = Number(cut - p.vaddr);
      return [
        { ...p, filesz: n, memsz: BigInt(n), data: p.data.subarray(0, n) },
        { ...p, vaddr: cut, filesz: p.filesz - n, memsz: p.memsz - BigInt(n), data: p.data.subarray(n) },
      ];
    });
  }
  const loads = phs.filter((p) => p.type === PT_LOAD && p.filesz > 0);
  const notes = phs.filter((p) => p.type !== PT_LOAD && p.filesz > 0);
  const order = o.reverse ? [...loads].reverse() : loads;
  const table = phs.length * 56;
  const parts: { at: number; bytes: Uint8Array }[] = [];
  let at = 64;
  const place = (bytes: Uint8Array, align = 1) => {
    at = Math.ceil(at / align) * align;
    parts.push({ at, bytes });
    const here = at;
    at += bytes.length;
    return here;
  };
  let newPhoff = 0;
  if (!o.phdrsLast) newPhoff = place(new Uint8Array(table), 8);
  const placeNotes = () => {
    for (const p of notes) p.offset = place(p.data, 4);
  };
  if (!o.notesLast) placeNotes();
  for (const p of order) p.offset = place(p.data, 4096);
  if (o.notesLast) placeNotes();
  if (o.phdrsLast) newPhoff = place(new Uint8Array(table), 8);
  const shoff = o.xnum ? place(new Uint8Array(64), 8) : 0;
  const out = new Uint8Array(at);
  out.set(core.subarray(0, 64));
  for (const p of parts) out.set(p.bytes, p.at);
  const w = new DataView(out.buffer);
  w.setBigUint64(32, BigInt(newPhoff), true);
  w.setUint16(54, 56, true);
  w.setUint16(56, o.xnum ? 0xffff : phs.length, true);
  if (o.xnum) {
    w.setBigUint64(40, BigInt(shoff), true);
    w.setUint16(58, 64, true);
    w.setUint16(60, 1, true);
    w.setUint16(62, 0, true);
    w.setBigUint64(shoff + 32, 1n, true); // sh_size = e_shnum
    w.setUint32(shoff + 44, phs.length, true); // sh_info = the segment count
  }
  phs.forEach((p, i) => {
    const h = newPhoff + i * 56;
    w.setUint32(h, p.type, true);
    w.setUint32(h + 4, p.flags, true);
    w.setBigUint64(h + 8, BigInt(p.filesz > 0 ? p.offset : 0), true);
    w.setBigUint64(h + 16, p.vaddr, true);
    w.setBigUint64(h + 32, BigInt(p.filesz), true);
    w.setBigUint64(h + 40, p.memsz, true);
    w.setBigUint64(h + 48, p.align, true);
  });
  return out;
}
