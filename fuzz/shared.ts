/**
 * The memory a worker shares with its parent: which execution is running (and since when, in CPU
 * and wall time) and the whole case it runs, written before it runs. When the parent has to stop
 * a worker, the case that hung or blew up is read back from here.
 */
import type { Case } from "./engine.ts";
import { MAX_INPUT } from "./mutate.ts";

const HEADER = 64;
/** Room for a case: the mutated file at its largest and a few changed files besides. */
export const SAB_BYTES = HEADER + 4 * MAX_INPUT;

const enc = new TextEncoder();
const dec = new TextDecoder();

export class SAB {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;

  constructor(buf: SharedArrayBuffer) {
    this.i32 = new Int32Array(buf, 0, 8);
    this.f64 = new Float64Array(buf, 32, 4);
    this.u8 = new Uint8Array(buf, HEADER);
  }

  /** Records the case of execution `n` and marks it running. */
  publish(n: number, c: Case): void {
    const files: [string, Uint8Array][] = [[c.file, c.bytes], ...(c.extra ?? [])];
    let size = 16;
    for (const [name, b] of files) size += 8 + enc.encode(name).length + b.length;
    if (size <= this.u8.length) {
      const dv = new DataView(this.u8.buffer, this.u8.byteOffset, this.u8.byteLength);
      dv.setUint32(0, c.seed, true);
      dv.setUint32(4, c.command, true);
      dv.setUint32(8, files.length, true);
      let o = 12;
      for (const [name, b] of files) {
        const nb = enc.encode(name);
        dv.setUint32(o, nb.length, true);
        this.u8.set(nb, o + 4);
        o += 4 + nb.length;
        dv.setUint32(o, b.length, true);
        this.u8.set(b, o + 4);
        o += 4 + b.length;
      }
      Atomics.store(this.i32, 2, o);
    } else Atomics.store(this.i32, 2, -1);
    Atomics.store(this.i32, 1, n);
    this.f64[1] = Date.now();
    Atomics.store(this.i32, 0, 1);
  }

  idle(): void {
    Atomics.store(this.i32, 0, 0);
  }

  running(): boolean {
    return Atomics.load(this.i32, 0) === 1;
  }

  exec(): number {
    return Atomics.load(this.i32, 1);
  }

  /** Wall-clock ms at which the running execution started (0 before the first). */
  started(): number {
    return this.f64[1]!;
  }
}

/** The case recorded in shared memory, or undefined when it did not fit. */
export function decodeCase(s: SAB): Case | undefined {
  const size = Atomics.load(s.i32, 2);
  if (size < 0) return undefined;
  const dv = new DataView(s.u8.buffer, s.u8.byteOffset, s.u8.byteLength);
  const seed = dv.getUint32(0, true);
  const command = dv.getUint32(4, true);
  const count = dv.getUint32(8, true);
  let o = 12;
  const files: [string, Uint8Array][] = [];
  for (let i = 0; i < count; i++) {
    const nl = dv.getUint32(o, true);
    const name = dec.decode(s.u8.subarray(o + 4, o + 4 + nl));
    o += 4 + nl;
    const bl = dv.getUint32(o, true);
    files.push([name, s.u8.slice(o + 4, o + 4 + bl)]);
    o += 4 + bl;
  }
  const [first, ...rest] = files;
  if (!first) return undefined;
  const c: Case = { seed, command, file: first[0], bytes: first[1] };
  if (rest.length) c.extra = new Map(rest);
  return c;
}
