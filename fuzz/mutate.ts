/**
 * Mutators: bit flips, interesting 8/16/32/64-bit values, arithmetic, truncation, chunk deletion,
 * duplication and splicing for any bytes; and for structured inputs the same at the offsets that
 * matter (ELF header, program header and note fields; CRIU entry sizes and protobuf varints and
 * lengths; frame sw_bytes and XSAVE header), line and token edits for `cpuid -r` text and value
 * edits for JSON. Every mutator is a pure function of its Rng and inputs.
 */
import type { Rng } from "./rng.ts";

/** Largest input a mutation may produce (growth is bounded, so a campaign's memory is too). */
export const MAX_INPUT = 8 * 1024 * 1024;

export const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
export const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x100, 0x1000, 0xfffe];
export const INTERESTING_32 = [
  0, 1, 2, 3, 4, 8, 0x10, 0x40, 0x100, 0x200, 0x240, 0x340, 0x400, 0xa88, 0x1000, 0x2b00, 0x10000, 0x7fffffff,
  0x80000000, 0xfffffffe, 0xffffffff, 0x46505853, 0x46505845, 0xffff, 0x10001,
];
export const INTERESTING_64 = [
  0n,
  1n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
  0xffffffffn,
  0x100000000n,
  1n << 47n,
  1n << 56n,
  0x7ffffffff000n,
  0xfffffffffffff000n,
  1n << 35n,
  0x20000000000000n,
];

export interface Donors {
  /** Other inputs of the family, to splice from. */
  others: readonly Uint8Array[];
}

/** Offsets where a mutation matters most, by format. */
export type Spotter = (b: Uint8Array) => number[];

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function clampLen(n: number, base: number): number {
  return Math.min(n, MAX_INPUT, Math.max(base * 2, base + 65536));
}

/**
 * One byte-level mutation. `owned`: `b` is a copy this mutation may change in place (the first
 * mutation of a round copies, the next ones do not).
 */
export function mutateOnce(
  rng: Rng,
  b: Uint8Array,
  spots: readonly number[],
  donors: Donors,
  owned = false,
): Uint8Array {
  const n = b.length;
  const own = (): Uint8Array => (owned ? b : Uint8Array.from(b));
  const at = (width: number): number => {
    if (spots.length && rng.chance(0.7)) {
      const s = rng.pick(spots) + (rng.chance(0.2) ? rng.int(9) - 4 : 0);
      return Math.max(0, Math.min(Math.max(0, n - width), s));
    }
    return rng.int(Math.max(1, n - width + 1));
  };
  const op = rng.weighted<string>([
    [10, "flip"],
    [6, "byte"],
    [6, "u16"],
    [12, "u32"],
    [8, "u64"],
    [6, "arith"],
    [5, "truncate"],
    [4, "delete"],
    [4, "duplicate"],
    [3, "insert"],
    [3, "splice"],
    [2, "crossover"],
    [1, "repeat"],
  ]);
  switch (op) {
    case "flip": {
      if (!n) return b;
      const out = own();
      const k = 1 + rng.int(4);
      for (let i = 0; i < k; i++) {
        const p = at(1);
        out[p] = out[p]! ^ (1 << rng.int(8));
      }
      return out;
    }
    case "byte": {
      if (!n) return b;
      const out = own();
      out[at(1)] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.int(256);
      return out;
    }
    case "u16": {
      if (n < 2) return b;
      const out = own();
      dv(out).setUint16(at(2), rng.pick(INTERESTING_16), rng.chance(0.9));
      return out;
    }
    case "u32": {
      if (n < 4) return b;
      const out = own();
      const p = at(4);
      const v = dv(out);
      const old = v.getUint32(p, true);
      const val = rng.weighted<number>([
        [6, rng.pick(INTERESTING_32)],
        [2, (old + rng.int(33) - 16) >>> 0],
        [1, (old * 2) >>> 0],
        [1, rng.u32()],
      ]);
      v.setUint32(p, val, rng.chance(0.95));
      return out;
    }
    case "u64": {
      if (n < 8) return b;
      const out = own();
      const p = at(8);
      const v = dv(out);
      const old = v.getBigUint64(p, true);
      const val = rng.weighted<bigint>([
        [6, rng.pick(INTERESTING_64)],
        [2, BigInt.asUintN(64, old + BigInt(rng.int(8193) - 4096))],
        [1, BigInt.asUintN(64, old << BigInt(1 + rng.int(16)))],
        [1, rng.u64()],
      ]);
      v.setBigUint64(p, val, true);
      return out;
    }
    case "arith": {
      if (!n) return b;
      const out = own();
      const p = at(1);
      out[p] = (out[p]! + rng.int(71) - 35) & 0xff;
      return out;
    }
    case "truncate":
      return b.slice(0, at(0));
    case "delete": {
      if (!n) return b;
      const p = at(0);
      const len = 1 + rng.int(Math.min(n - p, rng.chance(0.5) ? 16 : 4096) || 1);
      const out = new Uint8Array(n - Math.min(len, n - p));
      out.set(b.subarray(0, p));
      out.set(b.subarray(p + len), p);
      return out;
    }
    case "duplicate": {
      if (!n) return b;
      const p = rng.int(n);
      const len = 1 + rng.int(Math.min(n - p, rng.chance(0.5) ? 64 : 8192));
      const dest = at(0);
      return insertAt(b, dest, b.subarray(p, p + len));
    }
    case "insert": {
      const len = 1 + rng.int(rng.chance(0.8) ? 16 : 512);
      const bytes = rng.chance(0.5) ? rng.bytes(len) : new Uint8Array(len).fill(rng.pick(INTERESTING_8));
      return insertAt(b, at(0), bytes);
    }
    case "splice": {
      const d = donors.others.length ? rng.pick(donors.others) : b;
      if (!d.length || !n) return b;
      const p = rng.int(d.length);
      const len = 1 + rng.int(Math.min(d.length - p, 4096));
      const out = own();
      const dest = at(0);
      const piece = d.subarray(p, p + Math.min(len, n - dest));
      out.set(piece, dest);
      return out;
    }
    case "crossover": {
      const d = donors.others.length ? rng.pick(donors.others) : b;
      const cut = at(0);
      const from = rng.int(d.length + 1);
      const out = new Uint8Array(clampLen(cut + d.length - from, n));
      out.set(b.subarray(0, Math.min(cut, out.length)));
      out.set(d.subarray(from, from + out.length - Math.min(cut, out.length)), Math.min(cut, out.length));
      return out;
    }
    default: {
      // Repeat a small chunk many times (counts and tables that grow).
      if (!n) return b;
      const p = at(0);
      const len = 1 + rng.int(Math.min(n - p, 128) || 1);
      const times = 2 + rng.int(rng.chance(0.7) ? 16 : 4096);
      const chunk = b.subarray(p, p + len);
      const total = clampLen(n + chunk.length * times, n);
      const reps = Math.max(0, Math.floor((total - n) / Math.max(1, chunk.length)));
      const rep = new Uint8Array(reps * chunk.length);
      for (let i = 0; i < reps; i++) rep.set(chunk, i * chunk.length);
      return insertAt(b, p, rep);
    }
  }
}

function insertAt(b: Uint8Array, p: number, piece: Uint8Array): Uint8Array {
  const len = Math.min(piece.length, Math.max(0, clampLen(b.length + piece.length, b.length) - b.length));
  const out = new Uint8Array(b.length + len);
  out.set(b.subarray(0, p));
  out.set(piece.subarray(0, len), p);
  out.set(b.subarray(p), p + len);
  return out;
}

/** 1–4 byte-level mutations. */
export function mutateBytes(rng: Rng, b: Uint8Array, spots: readonly number[], donors: Donors): Uint8Array {
  let out = b;
  const k =
    1 +
    rng.weighted<number>([
      [6, 0],
      [3, 1],
      [2, 2],
      [1, 3],
    ]);
  for (let i = 0; i < k; i++) out = mutateOnce(rng, out, spots, donors, out !== b);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Where the structure is.

/** ELF64 core: header fields, every program header's fields, every note header and desc start. */
export function elfSpots(b: Uint8Array): number[] {
  const out = [0, 4, 5, 16, 18, 20, 24, 32, 40, 48, 52, 54, 56, 58, 60, 62];
  if (b.length < 64) return out;
  const v = dv(b);
  const phoff = Number(v.getBigUint64(32, true));
  const phnum = v.getUint16(56, true);
  for (let i = 0; i < Math.min(phnum, 4096); i++) {
    const ph = phoff + 56 * i;
    if (ph + 56 > b.length) break;
    for (const f of [0, 4, 8, 16, 24, 32, 40, 48]) out.push(ph + f);
    if (v.getUint32(ph, true) === 4) {
      const off = Number(v.getBigUint64(ph + 8, true));
      const size = Number(v.getBigUint64(ph + 32, true));
      let o = off;
      let guard = 0;
      const pad4 = (x: number) => x + ((4 - (x % 4)) % 4);
      while (o >= 0 && o + 12 <= Math.min(off + size, b.length) && guard++ < 4096) {
        const namesz = v.getUint32(o, true);
        const descsz = v.getUint32(o + 4, true);
        out.push(o, o + 4, o + 8);
        const desc = o + 12 + pad4(namesz);
        // The first fields of each descriptor (counts, sizes, pr_pid, XCR0 at 464, XSTATE_BV at 512).
        for (const d of [0, 8, 16, 24, 32, 112 + 19 * 8, 464, 512, 520]) if (d < descsz) out.push(desc + d);
        o = desc + pad4(descsz);
      }
    }
  }
  return out;
}

/** A CRIU image: the magics, every entry's size and the tags, varints and lengths of its payload. */
export function criuSpots(b: Uint8Array): number[] {
  const out = [0, 4, 8];
  if (b.length < 8) return out;
  const v = dv(b);
  let off = v.getUint32(0, true) === 0x58313116 ? 4 : 8;
  let guard = 0;
  while (off + 4 <= b.length && guard++ < 4096) {
    const size = v.getUint32(off, true);
    out.push(off);
    protobufSpots(b, off + 4, Math.min(b.length, off + 4 + size), out, 0);
    off += 4 + size;
  }
  return out;
}

/** Offsets of field tags, varint values and length prefixes of a protobuf message (nested too). */
export function protobufSpots(b: Uint8Array, start: number, end: number, out: number[], depth: number): void {
  let p = start;
  let guard = 0;
  while (p < end && guard++ < 512) {
    out.push(p);
    const tag = readVarint(b, p, end);
    if (!tag) return;
    p = tag.next;
    const wire = Number(tag.value & 7n);
    if (wire === 0) {
      out.push(p);
      const v = readVarint(b, p, end);
      if (!v) return;
      p = v.next;
    } else if (wire === 1) {
      out.push(p);
      p += 8;
    } else if (wire === 5) {
      out.push(p);
      p += 4;
    } else if (wire === 2) {
      out.push(p);
      const len = readVarint(b, p, end);
      if (!len) return;
      const body = len.next;
      const bodyEnd = body + Number(len.value);
      if (bodyEnd > end) return;
      if (depth < 4) protobufSpots(b, body, bodyEnd, out, depth + 1);
      p = bodyEnd;
    } else return;
  }
}

function readVarint(b: Uint8Array, p: number, end: number): { value: bigint; next: number } | undefined {
  let v = 0n;
  for (let i = 0; i < 10 && p < end; i++) {
    const x = b[p++]!;
    v |= BigInt(x & 0x7f) << BigInt(7 * i);
    if (!(x & 0x80)) return { value: v, next: p };
  }
  return undefined;
}

function encodeVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    const byte = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x ? byte | 0x80 : byte);
  } while (x);
  return Uint8Array.from(out);
}

/** Replaces the varint at `p` with an interesting value (a length, a count, a size, a flag word). */
export function mutateVarint(rng: Rng, b: Uint8Array, p: number): Uint8Array {
  const old = readVarint(b, p, b.length);
  if (!old) return b;
  const v = rng.weighted<bigint>([
    [4, BigInt(rng.pick(INTERESTING_32))],
    [3, rng.pick(INTERESTING_64)],
    [2, BigInt.asUintN(64, old.value + BigInt(rng.int(17) - 8))],
    [1, old.value * 2n + 1n],
  ]);
  const enc = encodeVarint(v);
  const out = new Uint8Array(b.length - (old.next - p) + enc.length);
  out.set(b.subarray(0, p));
  out.set(enc, p);
  out.set(b.subarray(old.next), p + enc.length);
  return out;
}

/** CRIU image mutations: entry sizes, entry order and count, protobuf varints, then bytes. */
export function mutateCriu(rng: Rng, b: Uint8Array, spots: readonly number[], donors: Donors): Uint8Array {
  const entries = criuEntries(b);
  const op = rng.weighted<string>([
    [5, "varint"],
    [2, "entries"],
    [5, "bytes"],
  ]);
  if (op === "varint" && spots.length > 3) return mutateVarint(rng, b, rng.pick(spots.slice(3)));
  if (op === "entries" && entries && entries.list.length) {
    const list = [...entries.list];
    const i = rng.int(list.length);
    const what = rng.int(4);
    if (what === 0) list.splice(i, 1);
    else if (what === 1) list.splice(i, 0, list[i]!);
    else if (what === 2) list.push(...Array.from({ length: 1 + rng.int(64) }, () => list[i]!));
    else list.reverse();
    let size = entries.head.length;
    for (const e of list) size += 4 + e.length;
    if (size > MAX_INPUT) return b;
    const out = new Uint8Array(size);
    out.set(entries.head);
    let o = entries.head.length;
    for (const e of list) {
      dv(out).setUint32(o, e.length, true);
      out.set(e, o + 4);
      o += 4 + e.length;
    }
    return out;
  }
  return mutateBytes(rng, b, spots, donors);
}

function criuEntries(b: Uint8Array): { head: Uint8Array; list: Uint8Array[] } | undefined {
  if (b.length < 8) return undefined;
  const v = dv(b);
  const headLen = v.getUint32(0, true) === 0x58313116 ? 4 : 8;
  const list: Uint8Array[] = [];
  let off = headLen;
  while (off + 4 <= b.length) {
    const size = v.getUint32(off, true);
    if (off + 4 + size > b.length) return undefined;
    list.push(b.subarray(off + 4, off + 4 + size));
    off += 4 + size;
  }
  return { head: b.subarray(0, headLen), list };
}

/** ELF mutations: header/phdr/note fields with interesting values, duplicated phdrs, then bytes. */
export function mutateElf(rng: Rng, b: Uint8Array, spots: readonly number[], donors: Donors): Uint8Array {
  if (b.length >= 64 && rng.chance(0.1)) {
    // Grow the program header count (the table's entries past the end read what follows).
    const out = Uint8Array.from(b);
    const v = dv(out);
    const phnum = v.getUint16(56, true);
    v.setUint16(56, rng.pick([phnum + 1, phnum * 2, 0, 0xffff, phnum - 1]) & 0xffff, true);
    return out;
  }
  return mutateBytes(rng, b, spots, donors);
}

// ---------------------------------------------------------------------------------------------
// Text and JSON.

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });

/** `cpuid -r` text: whole lines and hex tokens, then bytes. */
export function mutateCpuidText(rng: Rng, b: Uint8Array, donors: Donors): Uint8Array {
  if (rng.chance(0.25)) return mutateBytes(rng, b, textSpots(b), donors);
  const lines = dec.decode(b).split("\n");
  const k = 1 + rng.int(3);
  for (let j = 0; j < k; j++) {
    const i = rng.int(lines.length);
    const op = rng.weighted<string>([
      [6, "token"],
      [2, "dup"],
      [2, "delete"],
      [1, "swap"],
      [1, "header"],
      [1, "repeat"],
    ]);
    const line = lines[i] ?? "";
    if (op === "token") {
      // Hex values (cpuid -r registers, a dump.log's mask) and decimal ones (dump.log's offsets, sizes).
      const toks = [...line.matchAll(/0x[0-9a-fA-F]+|\b\d+\b/g)];
      if (!toks.length) continue;
      const t = rng.pick(toks);
      const v = rng.chance(0.8) ? rng.pick(INTERESTING_32) : rng.u32();
      const value = !t[0].startsWith("0x")
        ? rng.chance(0.9)
          ? String(v)
          : rng.u64().toString()
        : rng.chance(0.9)
          ? `0x${v.toString(16).padStart(8, "0")}`
          : `0x${rng.u64().toString(16)}`;
      lines[i] = line.slice(0, t.index) + value + line.slice(t.index! + t[0].length);
    } else if (op === "dup") lines.splice(i, 0, line);
    else if (op === "delete") lines.splice(i, 1);
    else if (op === "swap") {
      const o = rng.int(lines.length);
      [lines[i], lines[o]] = [lines[o] ?? "", line];
    } else if (op === "header") lines.splice(i, 0, rng.pick(["CPU:", `CPU ${rng.int(9000)}:`, "CPU 0:", ""]));
    else {
      const times = 2 + rng.int(rng.chance(0.9) ? 64 : 8192);
      lines.splice(i, 0, ...new Array(times).fill(line));
    }
  }
  return enc.encode(lines.join("\n")).subarray(0, MAX_INPUT);
}

/** Offsets of line starts and hex digits in text. */
export function textSpots(b: Uint8Array): number[] {
  const out = [0];
  for (let i = 0; i < b.length && out.length < 20000; i++) {
    if (b[i] === 0x0a) out.push(i + 1);
    else if (b[i] === 0x78 && b[i - 1] === 0x30) out.push(i + 1);
  }
  return out;
}

const HOSTILE_JSON: unknown[] = [
  null,
  -1,
  0,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 64,
  1e308,
  -1e308,
  "",
  "0x",
  "0x0",
  "0xffffffff",
  "0x80000000",
  "0xffffffffffffffff",
  "0x10000000000000000",
  "0xffffffffffffffffffffffffffff",
  "-0x1",
  "zz",
  "\u0000",
  "é",
  [],
  {},
  true,
  false,
  [[[[[]]]]],
  "x".repeat(5000),
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonPaths(doc: Json, prefix: (string | number)[], out: (string | number)[][]): void {
  if (out.length > 5000) return;
  out.push(prefix);
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) jsonPaths(doc[i]!, [...prefix, i], out);
  } else if (doc !== null && typeof doc === "object")
    for (const [k, v] of Object.entries(doc)) jsonPaths(v, [...prefix, k], out);
}

/** How many copies of `item` to add: up to 5000, and no more than 256 KiB of JSON in all. */
function copies(rng: Rng, item: Json): number {
  const size = (JSON.stringify(item) ?? "").length + 1;
  return 1 + rng.int(Math.max(1, Math.min(5000, Math.floor((256 * 1024) / size))));
}

/** JSON: replace, delete or duplicate values (hex strings get interesting numbers); else bytes. */
export function mutateJson(rng: Rng, b: Uint8Array, donors: Donors): Uint8Array {
  let doc: Json;
  try {
    doc = JSON.parse(dec.decode(b)) as Json;
  } catch {
    return mutateBytes(rng, b, textSpots(b), donors);
  }
  if (rng.chance(0.15)) return mutateBytes(rng, b, textSpots(b), donors);
  const paths: (string | number)[][] = [];
  jsonPaths(doc, [], paths);
  const k = 1 + rng.int(3);
  for (let j = 0; j < k; j++) {
    const path = rng.pick(paths);
    const get = (p: (string | number)[]) => {
      let x: Json = doc;
      for (const key of p) x = (x as Record<string | number, Json>)?.[key] as Json;
      return x;
    };
    const parent = path.length ? get(path.slice(0, -1)) : undefined;
    const key = path[path.length - 1];
    const cur = get(path);
    const op = rng.weighted<string>([
      [5, "hex"],
      [4, "hostile"],
      [2, "delete"],
      [2, "dup"],
      [1, "grow"],
    ]);
    let value: Json = cur;
    if (op === "hex" && typeof cur === "string" && /^0x[0-9a-fA-F]+$/.test(cur)) {
      const v = rng.chance(0.85) ? rng.pick(INTERESTING_32) : rng.u32();
      value = `0x${v.toString(16).padStart(cur.length - 2, "0")}`;
    } else if (op === "hex" && typeof cur === "number") {
      value = rng.pick([0, -1, cur + 1, cur * 2, 2 ** 32, 2 ** 31 - 1, 1e9, Number.MAX_SAFE_INTEGER]);
    } else if (op === "hostile" || op === "hex") value = structuredClone(rng.pick(HOSTILE_JSON)) as Json;
    if (!path.length) {
      if (op === "hostile") doc = value;
      continue;
    }
    if (parent === null || typeof parent !== "object") continue;
    if (Array.isArray(parent)) {
      const i = Number(key);
      if (op === "delete") parent.splice(i, 1);
      else if (op === "dup") parent.splice(i, 0, structuredClone(parent[i] as Json));
      else if (op === "grow") {
        const item = parent[i] as Json;
        for (let k = copies(rng, item); k > 0; k--) parent.push(structuredClone(item));
      } else parent[i] = value;
    } else {
      const o = parent as Record<string, Json>;
      if (op === "delete") delete o[key as string];
      else if (op === "dup") o[`${key as string}${rng.int(3)}`] = structuredClone(o[key as string] as Json);
      else if (op === "grow")
        o[key as string] = Array.from({ length: copies(rng, value) }, () => structuredClone(value));
      else o[key as string] = value;
    }
  }
  const text = JSON.stringify(doc, null, rng.chance(0.5) ? 1 : undefined) ?? "";
  return enc.encode(text).subarray(0, MAX_INPUT);
}
