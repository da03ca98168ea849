/** Hex formatting and parsing of 64-bit values, the contract's `"0x…"` (lower-case) strings. */
import { InvalidDataError } from "./errors.ts";

export const U64_MAX = (1n << 64n) - 1n;

/** `0x…` lower-case hex of a non-negative bigint or number. */
export function hex(v: bigint | number): string {
  if (typeof v === "number") v = BigInt(v);
  if (v < 0n) v &= U64_MAX;
  return `0x${v.toString(16)}`;
}

/** Fixed-width hex (`width` hex digits), e.g. CPUID registers as `0x0000000d`. */
export function hexPad(v: bigint | number, width: number): string {
  if (typeof v === "number") v = BigInt(v >>> 0 === v ? v : v);
  return `0x${v.toString(16).padStart(width, "0")}`;
}

/**
 * Parses a u64 from `0x…` hex, decimal, or `0b…`; rejects anything else and values above 2^64-1.
 * `what` names the field in the error.
 */
export function parseU64(text: string, what = "value"): bigint {
  const s = text.trim().toLowerCase().replace(/_/g, "");
  let v: bigint;
  if (/^0x[0-9a-f]+$/.test(s) || /^0b[01]+$/.test(s) || /^[0-9]+$/.test(s)) v = BigInt(s);
  else throw new InvalidDataError(`${what}: not a number: ${JSON.stringify(text)}`);
  if (v > U64_MAX) throw new InvalidDataError(`${what}: larger than 64 bits: ${text}`);
  return v;
}

/** Parses a non-negative integer that must fit in a JS number (sizes, offsets). */
export function parseSize(text: string, what = "value"): number {
  const v = parseU64(text, what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidDataError(`${what}: too large: ${text}`);
  return Number(v);
}

/** Bytes (memory order) to lower-case hex without prefix. */
export function bytesToHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? "0" : "") + b[i]!.toString(16);
  return s;
}

/** Hex (memory order, optional `0x`, optional whitespace) to bytes. */
export function hexToBytes(text: string, what = "hex"): Uint8Array {
  let s = text.trim().replace(/\s+/g, "");
  if (s.startsWith("0x") || s.startsWith("0X")) s = s.slice(2);
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s))
    throw new InvalidDataError(`${what}: not an even-length hex string`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Little-endian unsigned integer of `bytes` as bigint (registers of any width). */
export function leToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** Writes `v` little-endian into `out` (its whole length); bits above are dropped. */
export function bigintToLe(v: bigint, out: Uint8Array): Uint8Array {
  for (let i = 0; i < out.length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** JSON.stringify that renders bigint as `"0x…"` (the contract's convention for 64-bit values). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? hex(v) : v), indent);
}

/** Bits set in a mask, ascending. */
export function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; mask >> BigInt(i) !== 0n; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function hasBit(mask: bigint, n: number): boolean {
  return ((mask >> BigInt(n)) & 1n) === 1n;
}
