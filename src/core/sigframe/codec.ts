/**
 * Table-driven little-endian field access with claim tracking: every byte a decoder reads as a
 * field is claimed, and the non-zero bytes nobody claimed are kept as `extra` runs, so encoding a
 * decoded structure gives back the exact input bytes.
 */
import { ByteView, ByteWriter } from "../bytes.ts";
import { InvalidDataError } from "../errors.ts";
import { bigintToLe, leToBigint } from "../hex.ts";
import type { FieldTable } from "./fields.ts";

/** Non-zero bytes at `offset` that no field covers (padding, reserved, stale data). */
export interface ByteRun {
  offset: number;
  bytes: Uint8Array;
}

export class Claims {
  private readonly mask: Uint8Array;
  constructor(size: number) {
    this.mask = new Uint8Array(size);
  }
  add(off: number, size: number): void {
    const a = Math.max(0, off);
    const b = Math.min(this.mask.length, off + size);
    if (b > a) this.mask.fill(1, a, b);
  }
  claimed(off: number): boolean {
    return this.mask[off] === 1;
  }
  /** Runs of non-zero unclaimed bytes of `bytes` (same length as the claims). */
  extra(bytes: Uint8Array): ByteRun[] {
    const out: ByteRun[] = [];
    let i = 0;
    const n = Math.min(bytes.length, this.mask.length);
    while (i < n) {
      if (this.mask[i] === 0 && bytes[i] !== 0) {
        let j = i;
        while (j < n && this.mask[j] === 0 && bytes[j] !== 0) j++;
        out.push({ offset: i, bytes: bytes.slice(i, j) });
        i = j;
      } else i++;
    }
    return out;
  }
}

export type FieldValues<T extends FieldTable> = { [K in T[number][0]]: bigint };

/** Reads every field of `table` at `base`; throws TruncatedInputError naming `path/field`. */
export function readTable<T extends FieldTable>(
  v: ByteView,
  base: number,
  table: T,
  path: string,
  claims?: Claims,
): FieldValues<T> {
  const out: Record<string, bigint> = {};
  for (const [name, off, size] of table) {
    const bytes = v.slice(base + off, size, `${path}/${name}`);
    out[name] = leToBigint(bytes);
    claims?.add(base + off, size);
  }
  return out as FieldValues<T>;
}

/** Writes every field of `table` at `base`; a value wider than its field is an error. */
export function writeTable(
  w: ByteWriter,
  base: number,
  table: FieldTable,
  values: Readonly<Record<string, bigint>>,
  path: string,
): void {
  for (const [name, off, size] of table) {
    const v = values[name] ?? 0n;
    if (v < 0n || v >> BigInt(size * 8) !== 0n) {
      throw new InvalidDataError(`${path}/${name}: value does not fit in ${size} bytes`, {
        path: `${path}/${name}`,
      });
    }
    if (base + off < 0 || base + off + size > w.bytes.length) {
      throw new InvalidDataError(
        `${path}/${name}: field at ${base + off} lies outside the ${w.bytes.length}-byte output`,
        {
          path: `${path}/${name}`,
        },
      );
    }
    w.set(base + off, bigintToLe(v, new Uint8Array(size)));
  }
}

export function writeRuns(w: ByteWriter, base: number, runs: readonly ByteRun[], path: string): void {
  for (const r of runs) {
    if (base + r.offset < 0 || base + r.offset + r.bytes.length > w.bytes.length) {
      throw new InvalidDataError(`${path}: extra bytes at ${r.offset} lie outside the output`, { path });
    }
    w.set(base + r.offset, r.bytes);
  }
}

export { ByteView, ByteWriter };
