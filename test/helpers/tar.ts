/** Hand-built tar headers for tests: ustar, with sizes and names a real tar would not write. */
import { concat } from "../../src/core/archive/streams.ts";

function octal(v: number, width: number): string {
  return `${v.toString(8).padStart(width - 1, "0")}\0`;
}

/** One 512-byte ustar header; `size` may be a bigint written base-256 (GNU) when it does not fit octal. */
export function tarHeader(name: string, size: number | bigint, type = "0"): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number) => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i) & 0xff;
  };
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  if (typeof size === "bigint" || size >= 0o77777777777) {
    // GNU base-256: high bit set, big-endian value in the rest of the 12 bytes.
    let v = BigInt(size);
    for (let i = 11; i >= 1; i--) {
      h[124 + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    h[124] = 0x80;
  } else put(octal(size, 12), 124);
  put(octal(0, 12), 136);
  put(type, 156);
  put("ustar\0", 257);
  put("00", 263);
  for (let i = 148; i < 156; i++) h[i] = 0x20;
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** A whole archive of (name, bytes) members, padded, with the two zero blocks at the end. */
export function tarOf(members: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [n, b] of members) {
    parts.push(tarHeader(n, b.length));
    parts.push(b);
    const pad = (512 - (b.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}
