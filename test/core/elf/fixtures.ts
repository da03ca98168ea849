/** Shared helpers for the ELF core tests: the fixture cores, their truth, FNV-1a-64. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hexToBytes, leToBigint } from "../../../src/core/hex.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { FIXTURES } from "../../helpers/shared.ts";

export const SCENARIOS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"] as const;
export const CORE_DIR = join(FIXTURES, "core");

export interface TruthFrame {
  frame_addr: string;
  frame_len: number;
  frame_fnv1a64: string;
  tid: number;
}
export interface TruthThread {
  tid: number;
  live_context: string;
  blocked_syscall_nr: number;
  sp_at_block: string;
  rip_after_syscall: string;
  live_xinuse_expected: string;
  /** The mapping holding sp_at_block, as /proc/self/maps named it ("(anonymous)" when unnamed). */
  sp_vma: { lo: string; hi: string; name: string };
  frames: TruthFrame[];
}
export interface TruthContext {
  isa: "zmm" | "ymm";
  zmm: string[];
  k: string[];
  mxcsr: string;
  x87_st: string[];
  gpr: Record<string, string>;
}
export interface Truth {
  pid: number;
  tids: number[];
  threads: TruthThread[];
  contexts: Record<string, TruthContext>;
  host: { at_minsigstksz: number };
  xsave_layout: {
    xcr0: string;
    cpuid_d0_ebx_user_size: number;
    components: { index: number; offset: number; size: number }[];
  };
}

export function truth(s: string): Truth {
  return JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8")) as Truth;
}

export function coreBytes(s: string, kind: "gcore" | "kernel"): Uint8Array {
  const b = readFileSync(join(CORE_DIR, kind === "gcore" ? `${s}.core` : `${s}.kernel.core`));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function coreSource(s: string, kind: "gcore" | "kernel") {
  return bytesSource(coreBytes(s, kind));
}

/** A register's truth value: hex bytes in memory order → little-endian bigint. */
export function regValue(memHex: string): bigint {
  return leToBigint(hexToBytes(memHex));
}

export function fnv1a64(b: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of b) {
    h ^= BigInt(x);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}
