/** Builds small synthetic ELF64 x86-64 core files for edge and hostile-input tests. */

export interface NoteSpec {
  owner: string;
  type: number;
  desc: Uint8Array;
}
export interface LoadSpec {
  vaddr: bigint;
  data: Uint8Array;
  memsz?: bigint;
  flags?: number;
}

const align4 = (n: number) => (n + 3) & ~3;

export function noteBytes(notes: NoteSpec[]): Uint8Array {
  const size = notes.reduce((n, x) => n + 12 + align4(x.owner.length + 1) + align4(x.desc.length), 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const n of notes) {
    dv.setUint32(o, n.owner.length + 1, true);
    dv.setUint32(o + 4, n.desc.length, true);
    dv.setUint32(o + 8, n.type, true);
    for (let i = 0; i < n.owner.length; i++) out[o + 12 + i] = n.owner.charCodeAt(i);
    o += 12 + align4(n.owner.length + 1);
    out.set(n.desc, o);
    o += align4(n.desc.length);
  }
  return out;
}

/** ELF header + program headers (PT_NOTE first, then the PT_LOADs) + notes + segment data. */
export function buildCore(notes: NoteSpec[], loads: LoadSpec[] = []): Uint8Array {
  const nb = noteBytes(notes);
  const phnum = 1 + loads.length;
  const phoff = 64;
  const noteOff = phoff + 56 * phnum;
  let dataOff = (noteOff + nb.length + 4095) & ~4095;
  const offs: number[] = [];
  for (const l of loads) {
    offs.push(dataOff);
    dataOff += (l.data.length + 4095) & ~4095;
  }
  const out = new Uint8Array(Math.max(dataOff, noteOff + nb.length));
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setUint16(16, 4, true);
  dv.setUint16(18, 62, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(32, BigInt(phoff), true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
  const ph = (
    i: number,
    type: number,
    flags: number,
    off: number,
    vaddr: bigint,
    filesz: number,
    memsz: bigint,
  ) => {
    const o = phoff + 56 * i;
    dv.setUint32(o, type, true);
    dv.setUint32(o + 4, flags, true);
    dv.setBigUint64(o + 8, BigInt(off), true);
    dv.setBigUint64(o + 16, vaddr, true);
    dv.setBigUint64(o + 32, BigInt(filesz), true);
    dv.setBigUint64(o + 40, memsz, true);
    dv.setBigUint64(o + 48, type === 1 ? 4096n : 4n, true);
  };
  ph(0, 4, 0, noteOff, 0n, nb.length, 0n);
  out.set(nb, noteOff);
  loads.forEach((l, i) => {
    ph(1 + i, 1, l.flags ?? 6, offs[i]!, l.vaddr, l.data.length, l.memsz ?? BigInt(l.data.length));
    out.set(l.data, offs[i]!);
  });
  return out;
}

/** NT_PRSTATUS for `tid` with rsp and rip set. */
export function prstatus(tid: number, rsp: bigint, rip = 0x401000n): Uint8Array {
  const d = new Uint8Array(336);
  const dv = new DataView(d.buffer);
  dv.setInt32(32, tid, true);
  dv.setBigUint64(112 + 19 * 8, rsp, true);
  dv.setBigUint64(112 + 16 * 8, rip, true);
  return d;
}

/** An XSAVE area of `size` bytes with XCR0 at 464 and XSTATE_BV at 512. */
export function xstate(size: number, xcr0: bigint, xstateBv = xcr0): Uint8Array {
  const d = new Uint8Array(size);
  const dv = new DataView(d.buffer);
  dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, 0x1f80, true);
  dv.setBigUint64(464, xcr0, true);
  dv.setBigUint64(512, xstateBv, true);
  return d;
}

export function layoutNote(entries: [type: number, size: number, offset: number][]): Uint8Array {
  const d = new Uint8Array(16 * entries.length);
  const dv = new DataView(d.buffer);
  entries.forEach(([t, s, o], i) => {
    dv.setUint32(16 * i, t, true);
    dv.setUint32(16 * i + 4, s, true);
    dv.setUint32(16 * i + 8, o, true);
  });
  return d;
}

export function auxv(pairs: [number, bigint][]): Uint8Array {
  const d = new Uint8Array(16 * (pairs.length + 1));
  const dv = new DataView(d.buffer);
  pairs.forEach(([t, v], i) => {
    dv.setBigUint64(16 * i, BigInt(t), true);
    dv.setBigUint64(16 * i + 8, v, true);
  });
  return d;
}

export const NT_PRSTATUS = 1;
export const NT_AUXV = 6;
export const NT_X86_XSTATE = 0x202;
export const NT_X86_XSAVE_LAYOUT = 0x205;
export const NT_GDB_TDESC = 0xff000000;
export const NT_FILE = 0x46494c45;

/** A ByteSource wrapper that records the largest single read (to check allocations stay bounded). */
export function countingSource(bytes: Uint8Array) {
  const s = {
    size: bytes.length,
    maxRead: 0,
    read(offset: number, length: number): Uint8Array {
      if (offset < 0 || length < 0 || offset + length > bytes.length) throw new RangeError("out of range");
      s.maxRead = Math.max(s.maxRead, length);
      return bytes.subarray(offset, offset + length);
    },
  };
  return s;
}
