/**
 * The three register patterns of the probe: `A` is loaded into the registers before the signal,
 * `F` is written into the frame's saved registers by the handler, `C` is written at the
 * compacted-form offsets. Deterministic, different in every register and byte, never zero in a
 * byte, so that "init" (all zero) and every pattern are told apart. MXCSR: A 0x3f80 (round
 * down), F 0x5f80 (round up); init is 0x1f80.
 */
import { NVEC, type RegImage, VEC_BYTES } from "./regions.ts";

export type PatternName = "A" | "F" | "C";

const SEEDS: Record<PatternName, number> = { A: 0x41a7c3e5, F: 0x46f1d2b3, C: 0x43b5e9a1 };
const MXCSR: Record<PatternName, number> = { A: 0x3f80, F: 0x5f80, C: 0x5f80 };

/** xorshift32: small, fast and the same everywhere. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function pattern(name: PatternName): RegImage {
  const next = rng(SEEDS[name]);
  const byte = () => 1 + (next() % 255);
  const v = Array.from({ length: NVEC }, () => {
    const r = new Uint8Array(VEC_BYTES);
    for (let j = 0; j < VEC_BYTES; j++) r[j] = byte();
    return r;
  });
  const k = Array.from({ length: 8 }, () => {
    let x = 0n;
    for (let j = 0; j < 8; j++) x |= BigInt(byte()) << BigInt(8 * j);
    return x;
  });
  return { v, k, mxcsr: MXCSR[name] };
}

export interface Patterns {
  A: RegImage;
  F: RegImage;
  C: RegImage;
}

export function patterns(): Patterns {
  return { A: pattern("A"), F: pattern("F"), C: pattern("C") };
}
