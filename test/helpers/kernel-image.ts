/** Kernel images made in memory: a bzImage around any payload, an ELF with given notes. */

/** A bzImage-shaped file: setup header with HdrS, protocol 2.15, payload and its appended size. */
export function fakeBzImage(payload: Uint8Array, size: number, version = "6.1.0-test (x@y) #1"): Uint8Array {
  const setupSects = 3;
  const pm = (setupSects + 1) * 512;
  const b = new Uint8Array(pm + 0x100 + payload.length + 4);
  const dv = new DataView(b.buffer);
  b[0x1f1] = setupSects;
  dv.setUint32(0x202, 0x53726448, true);
  dv.setUint16(0x206, 0x20f, true);
  dv.setUint16(0x20e, 0x400 - 0x200, true);
  b.set(Buffer.from(`${version}\0`, "latin1"), 0x400);
  dv.setUint32(0x248, 0x100, true);
  dv.setUint32(0x24c, payload.length + 4, true);
  b.set(payload, pm + 0x100);
  dv.setUint32(pm + 0x100 + payload.length, size, true);
  return b;
}

/** An ELF64 with one PT_NOTE segment holding the given (name, type) notes. */
export function elfWithNotes(notes: [string, number][]): Uint8Array {
  const body: number[] = [];
  for (const [name, type] of notes) {
    const n = Buffer.from(`${name}\0`);
    const word = (v: number) => body.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
    word(n.length);
    word(4);
    word(type);
    body.push(...n, ...new Array((4 - (n.length % 4)) % 4).fill(0), 1, 2, 3, 4);
  }
  const b = new Uint8Array(64 + 56 + body.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setBigUint64(0x20, 64n, true);
  dv.setUint16(0x36, 56, true);
  dv.setUint16(0x38, 1, true);
  dv.setUint32(64, 4, true); // PT_NOTE
  dv.setBigUint64(64 + 8, 120n, true);
  dv.setBigUint64(64 + 32, BigInt(body.length), true);
  b.set(body, 120);
  return b;
}
