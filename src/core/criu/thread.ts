/**
 * The registers of one thread as a CRIU core-<tid>.img stores them: general registers by name,
 * and the vector registers put back together from CRIU's per-component arrays.
 */
import { InvalidDataError } from "../errors.ts";
import type { core_entry } from "./gen/core_pb.ts";
import type { user_x86_fpregs_entry, user_x86_regs_entry } from "./gen/core-x86_pb.ts";

export const GPREG_NAMES = [
  "r15",
  "r14",
  "r13",
  "r12",
  "bp",
  "bx",
  "r11",
  "r10",
  "r9",
  "r8",
  "ax",
  "cx",
  "dx",
  "si",
  "di",
  "orig_ax",
  "ip",
  "cs",
  "flags",
  "sp",
  "ss",
  "fs_base",
  "gs_base",
  "ds",
  "es",
  "fs",
  "gs",
] as const;
export type GpregName = (typeof GPREG_NAMES)[number];

export interface CriuThreadState {
  gpregs: Record<GpregName, bigint>;
  /** "native" (64-bit) or "compat" (32-bit). */
  mode: "native" | "compat";
  fpregs: user_x86_fpregs_entry;
  /** XSAVE header xstate_bv as dumped, or undefined without an xsave entry. */
  xstateBv?: bigint;
  /** Thread's blocked mask, where stored. */
  blocked?: bigint;
  /** sigaltstack, where stored. */
  altstack?: { sp: bigint; size: bigint; flags: number };
}

function camel(n: string): string {
  return n.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The x86 thread state of a core entry; a core of another architecture is an InvalidDataError. */
export function threadState(core: core_entry): CriuThreadState {
  const ti = core.threadInfo;
  if (core.mtype !== 1 || !ti || !ti.gpregs || !ti.fpregs) {
    throw new InvalidDataError("core entry has no x86-64 thread_info (not an x86 checkpoint)", {
      path: "entries/0/thread_info",
    });
  }
  const g = ti.gpregs as user_x86_regs_entry & Record<string, unknown>;
  const gpregs = {} as Record<GpregName, bigint>;
  for (const n of GPREG_NAMES) gpregs[n] = g[camel(n)] as bigint;
  const st: CriuThreadState = { gpregs, mode: g.mode === 2 ? "compat" : "native", fpregs: ti.fpregs };
  if (ti.fpregs.xsave) st.xstateBv = ti.fpregs.xsave.xstateBv;
  const tc = core.threadCore;
  if (tc) {
    if (Object.hasOwn(tc, "blkSigset")) st.blocked = tc.blkSigset;
    if (tc.sas) st.altstack = { sp: tc.sas.ssSp, size: tc.sas.ssSize, flags: tc.sas.ssFlags };
  }
  return st;
}

function putU32(
  out: Uint8Array,
  off: number,
  words: readonly number[],
  from: number,
  count: number,
): boolean {
  if (words.length < from + count) return false;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < count; i++) dv.setUint32(off + 4 * i, words[from + i]! >>> 0, true);
  return true;
}

function putU64(
  out: Uint8Array,
  off: number,
  words: readonly bigint[],
  from: number,
  count: number,
): boolean {
  if (words.length < from + count) return false;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < count; i++) dv.setBigUint64(off + 8 * i, BigInt.asUintN(64, words[from + i]!), true);
  return true;
}

/**
 * ZMM register `r` (0-31) as 64 bytes in memory order, from xmm_space, ymmh_space, zmm_upper and
 * hi16_zmm. Parts the image does not hold (array absent) are zero; `parts` says which were there.
 */
export function zmmRegister(fp: user_x86_fpregs_entry, r: number): { bytes: Uint8Array; parts: string[] } {
  const out = new Uint8Array(64);
  const parts: string[] = [];
  const x = fp.xsave;
  if (r < 16) {
    if (putU32(out, 0, fp.xmmSpace, 4 * r, 4)) parts.push("xmm");
    if (x && putU32(out, 16, x.ymmhSpace, 4 * r, 4)) parts.push("ymmh");
    if (x && putU64(out, 32, x.zmmUpper, 4 * r, 4)) parts.push("zmm_upper");
  } else if (x && putU64(out, 0, x.hi16Zmm, 8 * (r - 16), 8)) parts.push("hi16_zmm");
  return { bytes: out, parts };
}

/** k0-k7, or undefined without AVX-512 state in the image. */
export function opmaskRegisters(fp: user_x86_fpregs_entry): bigint[] | undefined {
  const k = fp.xsave?.opmaskReg;
  return k && k.length >= 8 ? k.slice(0, 8) : undefined;
}

/** ST(i) (i = 0..7) as its 10 bytes. */
export function stRegister(fp: user_x86_fpregs_entry, i: number): Uint8Array | undefined {
  const out = new Uint8Array(16);
  return putU32(out, 0, fp.stSpace, 4 * i, 4) ? out.subarray(0, 10) : undefined;
}

/**
 * The signal number of `task_core_entry.sigactions[index]`: CRIU stores signals 1..64 in order
 * but skips SIGKILL (9) and SIGSTOP (19), whose actions cannot be changed (criu/sigact.c).
 */
export function sigactionSignal(index: number): number {
  let sig = index + 1;
  if (sig >= 9) sig++;
  if (sig >= 19) sig++;
  return sig;
}
