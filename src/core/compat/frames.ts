/**
 * The frames a migration check evaluates. A frame case is the fpstate bytes as some writer left
 * them (the kernel on the source host, a restorer on the destination, or a frame found in a
 * checkpoint), plus where the writer meant each component's state to be. The sigreturn model then
 * says what the destination kernel does with it; comparing the two gives the findings.
 *
 * A checkpoint scanner supplies its own cases (style `checkpoint`); `standardFrames()` builds the
 * representative ones for a pair of layouts.
 */
import { bitsOf, hasBit, leToBigint } from "../hex.ts";
import { MXCSR_DAZ, MXCSR_INIT, type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import { buildFpstateBytes, CRIU_COMPONENTS, rawCopyFpstate } from "../sigframe/build.ts";
import { componentFields } from "../sigframe/fields.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import { emptyState, type RegisterState } from "../sigframe/state.ts";
import { MASK_FPSSE, SW_BYTES_OFFSET, XFEATURE, XSAVE_HDR_OFFSET } from "../xsave/components.ts";
import { standardSize, type XsaveLayout } from "../xsave/layout.ts";
import { PKRU_LINUX_DEFAULT } from "../xsave/pkru.ts";
import type { FrameStyle } from "./findings.ts";

export interface Placement {
  bit: number;
  /** Offset in the fpstate where the writer put the component's state. */
  offset: number;
  size: number;
}

export interface FrameCase {
  /** Stable id: `kernel`, `kernel-altstack`, `criu`, `raw-copy`, `mxcsr`, or one a scanner chose. */
  id: string;
  style: FrameStyle;
  description: string;
  /** Bytes from the fpstate address on. */
  fpstate: Uint8Array;
  address?: bigint;
  /** Bytes mapped from the fpstate on (default: all of `fpstate`). */
  readableBytes?: number;
  /** Where each live component's state is in the frame (the components that matter). */
  placements: Placement[];
  /** Bytes the writer wrote: its xstate_size + 4 (the rest is whatever was in memory). */
  writtenBytes: number;
  /** The frame's sw_reserved xstate_size. */
  xstateSize: number;
  /** Components the writer could not carry (a restorer without a field for them). */
  notCarried?: number[];
  /** Components the source uses that this restorer refuses to load on the destination. */
  refused?: number[];
  /** MXCSR the frame holds. */
  mxcsr: number;
}

/** gVisor's SupportedXFeatureStates (pkg/sentry/arch/fpu/fpu_amd64.go): x87, SSE, AVX, AVX-512. */
export const RAW_COPY_SUPPORTED = 0xe7n;
/** What gVisor writes to sw_reserved.xfeatures of the frames it hands the host kernel. */
const RAW_COPY_SW_XFEATURES = 0xe7n;

/**
 * Byte filling the memory past a frame (other stack contents). Bits 0-1 clear: a PKRU read from
 * it leaves protection key 0 open, so what a frame does is not decided by the filler (check says
 * what PKRU read from other bytes can do: group.ts).
 */
const STACK_FILL = 0xa4;

/** A recognisable, never-zero byte pattern for a component's state (so it is never init). */
function patternBytes(b: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (0x10 + b * 7 + i) & 0xff || 1;
  return out;
}

/** PKRU_LINUX_DEFAULT (0x55555554) as the component's bytes. */
function linuxPkru(size: number): Uint8Array {
  // A CPUID that gives PKRU fewer than 4 bytes holds what fits of it.
  const out = new Uint8Array(Math.max(size, 4));
  new DataView(out.buffer).setUint32(0, PKRU_LINUX_DEFAULT, true);
  return out.subarray(0, size);
}

/**
 * The register state of a process that uses exactly `uses` (x87/SSE always): every used component
 * holds a non-init pattern, every other one of `layouts` is init (PKRU included: the process is
 * taken not to use it unless `uses` says so).
 */
function patternState(uses: bigint, mxcsr: number, layouts: XsaveLayout[]): RegisterState {
  const st = emptyState();
  st.legacy.mxcsr = BigInt(mxcsr >>> 0);
  const xmm = patternBytes(XFEATURE.SSE, 256);
  for (let i = 0; i < 16; i++) st.legacy[`xmm${i}`] = leToBigint(xmm.subarray(16 * i, 16 * i + 16));
  for (const b of bitsOf(uses)) {
    if (b < 2) continue;
    const size = layouts.map((l) => standardPlacement(l, b)?.size).find((x) => x !== undefined);
    if (size === undefined) continue;
    // PKRU as a real process has it: Linux's default, key 0 open (any value locking key 0
    // would kill the task: xsave/pkru.ts).
    const bytes = b === XFEATURE.PKRU ? linuxPkru(size) : patternBytes(b, size);
    const regs: Record<string, bigint> = {};
    for (const [name, off, n] of componentFields(b, size))
      regs[name] = leToBigint(bytes.subarray(off, off + n));
    st.components.set(b, regs);
  }
  if (!hasBit(uses, XFEATURE.PKRU)) st.components.set(XFEATURE.PKRU, { pkru: 0n });
  return st;
}

/** `bytes` at the start of `total` bytes of stack (what lies past the frame). */
function onStack(bytes: Uint8Array, total: number): Uint8Array {
  if (bytes.length >= total) return bytes;
  const out = new Uint8Array(total).fill(STACK_FILL);
  out.set(bytes);
  return out;
}

/** A frame case from a built area: the area on the stack (`total` bytes mapped at least). */
function frameCase(
  style: FrameStyle,
  description: string,
  bytes: Uint8Array,
  total: number,
  rest: Pick<FrameCase, "placements" | "writtenBytes" | "mxcsr">,
): FrameCase {
  const size = Math.max(total, bytes.length);
  return {
    id: style,
    style,
    description,
    fpstate: onStack(bytes, size),
    readableBytes: size,
    xstateSize: swSizes(bytes).xstateSize,
    ...rest,
  };
}

function placementsOf(l: XsaveLayout, bits: bigint): Placement[] {
  const out: Placement[] = [];
  for (const b of bitsOf(bits)) {
    const c = standardPlacement(l, b);
    if (c) out.push({ bit: b, offset: c.offset, size: c.size });
  }
  return out;
}

export interface FrameOptions {
  /** Components the process uses (in A's xstate_bv); FP|SSE are always added. */
  uses: bigint;
  /** A's MXCSR_MASK, written into the frames (a measured value, or `mxcsrMaskOf()`; default 0xffff). */
  fromMxcsrMask?: MxcsrMaskInput;
  mxcsr?: number;
}

/** Room past the largest frame so reads beyond the source's frame land in "stack" bytes. */
function bufferSize(from: XsaveLayout, to: XsaveLayout): number {
  const need = Math.max(from.userSize, to.userSize, to.maxUserSize, standardSize(to, to.xcr0)) + 4;
  return (need + 64 + 63) & ~63;
}

function writtenMask(opts: FrameOptions): bigint {
  return BigInt(resolveMxcsrMask(opts.fromMxcsrMask).value);
}

/**
 * The frame the kernel on A writes for a thread in a signal handler (save_xstate_epilog()):
 * xstate_size = A's user_size, xfeatures = A's user features, xstate_bv = what the process uses,
 * components at A's offsets. `altstack`: placed at the top of a sigaltstack, so nothing past the
 * frame (rounded to 64 bytes) is mapped.
 */
export function kernelFrame(
  from: XsaveLayout,
  to: XsaveLayout,
  opts: FrameOptions,
  altstack = false,
): FrameCase {
  const uses = (opts.uses & from.userFeatures) | MASK_FPSSE;
  const mxcsr = opts.mxcsr ?? MXCSR_INIT;
  const bytes = buildFpstateBytes(from, patternState(uses, mxcsr, [from]), "kernel", writtenMask(opts));
  const { extendedSize } = swSizes(bytes);
  const total = altstack ? (extendedSize + 63) & ~63 : bufferSize(from, to);
  return frameCase(
    altstack ? "kernel-altstack" : "kernel",
    altstack
      ? "a frame the source kernel wrote at the top of a sigaltstack (nothing mapped past it)"
      : "a frame the source kernel wrote (a thread inside a signal handler at checkpoint time)",
    bytes,
    total,
    { placements: placementsOf(from, uses), writtenBytes: extendedSize, mxcsr },
  );
}

/** xstate_size and extended_size as a built area's software bytes hold them. */
function swSizes(fp: Uint8Array): { xstateSize: number; extendedSize: number } {
  const dv = new DataView(fp.buffer, fp.byteOffset, fp.byteLength);
  return {
    extendedSize: dv.getUint32(SW_BYTES_OFFSET + 4, true),
    xstateSize: dv.getUint32(SW_BYTES_OFFSET + 16, true),
  };
}

/**
 * The frame CRIU's restorer builds on B (restore_fpu(), construct_sigframe()): each component the
 * image has and B supports copied to B's offset, xstate_size = end of the last one copied,
 * magic2 right there. Components B lacks are skipped; components CRIU has no field for are lost.
 */
export function criuFrame(from: XsaveLayout, to: XsaveLayout, opts: FrameOptions): FrameCase {
  const uses = (opts.uses & from.userFeatures) | MASK_FPSSE;
  const mxcsr = opts.mxcsr ?? MXCSR_INIT;
  const bytes = buildFpstateBytes(to, patternState(uses, mxcsr, [from, to]), "criu", writtenMask(opts));
  const carried = to.xsave ? xstateBvOf(bytes) : MASK_FPSSE;
  const placements = placementsOf(to, carried);
  const notCarried = bitsOf(uses).filter((b) => b >= 2 && !CRIU_COMPONENTS.includes(b));
  // Components used on A that B lacks are expected too: their loss is what the check reports.
  for (const b of bitsOf(uses & ~carried)) {
    if (b < 2 || notCarried.includes(b)) continue;
    const c = standardPlacement(from, b);
    if (c) placements.push({ bit: b, offset: -1, size: c.size });
  }
  const f = frameCase(
    "criu",
    "the frame CRIU's restorer builds on the destination (per-component relocation, trimmed xstate_size)",
    bytes,
    bufferSize(from, to),
    { placements, writtenBytes: swSizes(bytes).extendedSize, mxcsr },
  );
  if (notCarried.length) f.notCarried = notCarried;
  return f;
}

/**
 * The frame of a restorer that asked for AMX permission on B (`check --amx`) and carries the tile
 * state: every component the process uses, relocated to B's offsets, written as B's kernel writes
 * an AMX task's frame (xstate_size = B's user_size with tile data). CRIU 4.2 is not such a
 * restorer: its images have no AMX fields (criuFrame).
 */
export function amxRestorerFrame(from: XsaveLayout, to: XsaveLayout, opts: FrameOptions): FrameCase {
  const uses = (opts.uses & from.userFeatures) | MASK_FPSSE;
  const mxcsr = opts.mxcsr ?? MXCSR_INIT;
  const bytes = buildFpstateBytes(to, patternState(uses, mxcsr, [from, to]), "kernel", writtenMask(opts));
  const carried = to.xsave ? xstateBvOf(bytes) : MASK_FPSSE;
  const placements = placementsOf(to, carried);
  for (const b of bitsOf(uses & ~carried)) {
    if (b < 2) continue;
    const c = standardPlacement(from, b);
    if (c) placements.push({ bit: b, offset: -1, size: c.size });
  }
  return frameCase(
    "amx-restorer",
    "the frame a restorer that requests AMX permission again builds on the destination (every component relocated, tile state included)",
    bytes,
    bufferSize(from, to),
    { placements, writtenBytes: swSizes(bytes).extendedSize, mxcsr },
  );
}

function xstateBvOf(fp: Uint8Array): bigint {
  return new DataView(fp.buffer, fp.byteOffset, fp.byteLength).getBigUint64(XSAVE_HDR_OFFSET, true);
}

/**
 * A restorer that copies A's XSAVE bytes as they are (gVisor's fpu State.AfterLoad()): a buffer
 * of B's size holding A's bytes (cut at B's size), sw_reserved written for B, xstate_bv as on A
 * minus the components it ignores. It refuses state whose xstate_bv B does not support.
 */
export function rawCopyFrame(from: XsaveLayout, to: XsaveLayout, opts: FrameOptions): FrameCase {
  const uses = (opts.uses & from.userFeatures & RAW_COPY_SUPPORTED) | MASK_FPSSE;
  const mxcsr = opts.mxcsr ?? MXCSR_INIT;
  const { bytes, copied } = rawCopyFpstate(
    from,
    to,
    patternState(uses, mxcsr, [from]),
    RAW_COPY_SW_XFEATURES,
    writtenMask(opts),
  );
  const refused = bitsOf(uses).filter((b) => !hasBit(to.xcr0, b));
  // Bytes of A's buffer past B's size are cut, not copied: whatever the buffer held stays there.
  const f = frameCase(
    "raw-copy",
    "a restorer that copies the source's XSAVE bytes unchanged (gVisor)",
    bytes,
    bufferSize(from, to),
    { placements: placementsOf(from, uses), writtenBytes: copied, mxcsr },
  );
  if (refused.length) f.refused = refused;
  return f;
}

export interface StandardFrameOptions extends FrameOptions {
  /** Which restorer-built frames to add beside the kernel-written ones; default both. */
  restorers?: ("criu" | "raw-copy")[];
  /** B's MXCSR_MASK (measured, or `mxcsrMaskOf()`; default 0xffff): adds an MXCSR case if A accepts DAZ and B does not. */
  toMxcsrMask?: MxcsrMaskInput;
}

/** The representative frames for a pair: kernel-written (stack and altstack) and restorer-built. */
export function standardFrames(from: XsaveLayout, to: XsaveLayout, opts: StandardFrameOptions): FrameCase[] {
  const out: FrameCase[] = [kernelFrame(from, to, opts), kernelFrame(from, to, opts, true)];
  const restorers = opts.restorers ?? ["criu", "raw-copy"];
  if (restorers.includes("criu")) out.push(criuFrame(from, to, opts));
  if (restorers.includes("raw-copy")) out.push(rawCopyFrame(from, to, opts));
  const a = resolveMxcsrMask(opts.fromMxcsrMask).value;
  const b = resolveMxcsrMask(opts.toMxcsrMask).value;
  const extra = a & ~b & 0xffff;
  if (extra) {
    const f = kernelFrame(from, to, { ...opts, mxcsr: MXCSR_INIT | extra });
    f.id = "mxcsr";
    f.style = "mxcsr";
    f.description = `a frame from the source whose MXCSR sets ${extra & MXCSR_DAZ ? "DAZ (bit 6)" : `bits 0x${extra.toString(16)}`}, valid there`;
    out.push(f);
  }
  return out;
}
