/**
 * Frames for the sigreturn tests: kernel-style frames built by the encoder on corpus profiles,
 * edited the way the probe (../shared/research/probe.md) edited the real kernel's frames.
 */
import { join } from "node:path";
import { bigintToLe, leToBigint } from "../../../src/core/hex.ts";
import { buildFpstate } from "../../../src/core/sigframe/build.ts";
import { componentFields } from "../../../src/core/sigframe/fields.ts";
import { encodeFpstate } from "../../../src/core/sigframe/fpstate.ts";
import { emptyState, setRegister } from "../../../src/core/sigframe/state.ts";
import { compactedLayout, computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { readProfile } from "../../../src/node/profile-source.ts";
import { CORPUS } from "../../helpers/shared.ts";

export function corpusLayout(file: string, amx = false): XsaveLayout {
  return computeLayout(readProfile(join(CORPUS, file)), amx ? { amx } : {});
}

/** This machine: AMD Zen 5, XCR0 0xe7, user_size 2432, AVX-512 at 832/896/1408. */
export const LOCAL = "local-this-machine.json";
export const LOCAL_MXCSR_MASK = 0x2ffff;

function fill(byte: number, bytes: number): bigint {
  return leToBigint(new Uint8Array(bytes).fill(byte));
}

/** A register pattern: every vector/opmask register filled with one byte per pattern. */
export const PATTERN = { A: 0xa1, F: 0xf7, C: 0xc3 } as const;

/** The kernel-style frame of a task whose registers hold pattern A (probe step 1–3). */
export function deliveredFrame(layout: XsaveLayout, mxcsrMask = LOCAL_MXCSR_MASK): Uint8Array {
  const st = emptyState();
  for (let i = 0; i < 32; i++) setRegister(st, `zmm${i}`, fill(PATTERN.A, 64));
  for (let i = 0; i < 8; i++) setRegister(st, `k${i}`, fill(PATTERN.A, 8));
  setRegister(st, "mxcsr", 0x3f80n);
  const fp = buildFpstate(layout, st, "kernel", BigInt(mxcsrMask));
  return encodeFpstate(fp);
}

/** Writes pattern `p` into every saved vector register copy at the layout's standard offsets (probe step 4). */
export function writePatterns(buf: Uint8Array, layout: XsaveLayout, byte: number, mxcsr = 0x5f80): void {
  buf.fill(byte, 160, 416); // XMM0-15
  for (const c of layout.components) {
    if (!c.enabled || c.bit < 2 || c.bit === 9) continue;
    buf.fill(byte, c.offset, c.offset + c.size);
  }
  new DataView(buf.buffer, buf.byteOffset).setUint32(24, mxcsr, true);
}

/** Writes pattern bytes at the compacted offsets for `format` (probe case 9e). */
export function writeCompacted(
  buf: Uint8Array,
  layout: XsaveLayout,
  format: bigint,
  byte: number,
  bits: number[],
): void {
  const offs = compactedLayout(layout, format);
  for (const b of bits) {
    const c = layout.components.find((x) => x.bit === b)!;
    const off = offs.get(b)!;
    buf.fill(byte, off, off + c.size);
  }
}

export class Frame {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  constructor(bytes: Uint8Array, size = bytes.length) {
    this.buf = new Uint8Array(size);
    this.buf.set(bytes);
    this.dv = new DataView(this.buf.buffer);
  }
  u32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  setU32(off: number, v: number): this {
    this.dv.setUint32(off, v >>> 0, true);
    return this;
  }
  u64(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }
  setU64(off: number, v: bigint): this {
    this.dv.setBigUint64(off, BigInt.asUintN(64, v), true);
    return this;
  }
  // _fpx_sw_bytes and header fields
  get xstateSize(): number {
    return this.u32(480);
  }
  set magic1(v: number) {
    this.setU32(464, v);
  }
  set extendedSize(v: number) {
    this.setU32(468, v);
  }
  set xfeatures(v: bigint) {
    this.setU64(472, v);
  }
  set xstateSize(v: number) {
    this.setU32(480, v);
  }
  get xstateBv(): bigint {
    return this.u64(512);
  }
  set xstateBv(v: bigint) {
    this.setU64(512, v);
  }
  set xcompBv(v: bigint) {
    this.setU64(520, v);
  }
  set mxcsr(v: number) {
    this.setU32(24, v);
  }
}

/** The value of register `name` of component `bit` at `offset` in `bytes`. */
export function regAt(bytes: Uint8Array, bit: number, size: number, offset: number, name: string): bigint {
  const f = componentFields(bit, size).find(([n]) => n === name)!;
  return leToBigint(bytes.subarray(offset + f[1], offset + f[1] + f[2]));
}

export function patternValue(byte: number, bytes: number): bigint {
  return fill(byte, bytes);
}

export { bigintToLe };
