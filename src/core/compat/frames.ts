/**
 * The frames a migration check evaluates. A frame case is the fpstate bytes as some writer left
 * them (the kernel on the source host, a restorer on the destination, or a frame found in a
 * checkpoint), plus where the writer meant each component's state to be. The sigreturn model then
 * says what the destination kernel does with it; comparing the two gives the findings.
 *
 * A checkpoint scanner supplies its own cases (style `checkpoint`); `standardFrames()` builds the
 * representative ones for a pair of layouts.
 */
import { bitsOf, hasBit } from "../hex.ts";
import {
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2,
  FXSAVE_SIZE,
  MASK_FPSSE,
  MIN_XSTATE_SIZE,
  SW_BYTES_OFFSET,
  XFEATURE,
  XSAVE_HDR_OFFSET,
} from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
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

/** MXCSR_MASK when FXSAVE reports 0 (SDM vol.1 §11.6.6). */
export const DEFAULT_MXCSR_MASK = 0xffbf;
export const MXCSR_DEFAULT = 0x1f80;
/** Denormals-are-zero: the MXCSR bit early SSE CPUs lack. */
export const MXCSR_DAZ = 0x40;

/** CRIU's restore_fpu() order of per-component copies (criu/arch/x86/crtools.c). */
export const CRIU_COMPONENTS: readonly number[] = [
  XFEATURE.YMM,
  XFEATURE.BNDREGS,
  XFEATURE.BNDCSR,
  XFEATURE.OPMASK,
  XFEATURE.ZMM_Hi256,
  XFEATURE.Hi16_ZMM,
  XFEATURE.PKRU,
];

/** gVisor's SupportedXFeatureStates (pkg/sentry/arch/fpu/fpu_amd64.go): x87, SSE, AVX, AVX-512. */
export const RAW_COPY_SUPPORTED = 0xe7n;
/** What gVisor writes to sw_reserved.xfeatures of the frames it hands the host kernel. */
const RAW_COPY_SW_XFEATURES = 0xe7n;

/** Byte filling the memory past a frame (other stack contents). */
const STACK_FILL = 0xa5;

function comp(l: XsaveLayout, bit: number): { offset: number; size: number } | undefined {
  if (bit === 0) return { offset: 0, size: 160 };
  if (bit === 1) return { offset: 160, size: 256 };
  const c = l.components.find((x) => x.bit === bit && !x.supervisor);
  return c && c.size > 0 ? { offset: c.offset, size: c.size } : undefined;
}

/** A recognisable, non-init byte pattern for a component's state. */
function fillComponent(buf: Uint8Array, bit: number, offset: number, size: number): void {
  const end = Math.min(buf.length, offset + size);
  for (let i = offset; i < end; i++) buf[i] = (0x10 + bit * 7 + (i - offset)) & 0xff || 1;
}

interface RawFrame {
  size: number;
  xfeatures: bigint;
  xstateBv: bigint;
  xstateSize: number;
  extendedSize: number;
  magic2At: number | null;
  mxcsr: number;
  mxcsrMask: number;
  /** Component bytes to place: [bit, offset, size]. */
  components: [number, number, number][];
}

/** Encodes an fpstate the way the kernel's copy_fpstate_to_sigframe() lays it out. */
function encode(f: RawFrame): Uint8Array {
  const buf = new Uint8Array(f.size).fill(STACK_FILL);
  const dv = new DataView(buf.buffer);
  // Legacy FXSAVE region: x87 control words, MXCSR, XMM registers.
  buf.fill(0, 0, Math.min(FXSAVE_SIZE, f.size));
  dv.setUint16(0, 0x037f, true);
  dv.setUint32(24, f.mxcsr >>> 0, true);
  dv.setUint32(28, f.mxcsrMask >>> 0, true);
  fillComponent(buf, 1, 160, 256);
  // _fpx_sw_bytes.
  dv.setUint32(SW_BYTES_OFFSET, FP_XSTATE_MAGIC1, true);
  dv.setUint32(SW_BYTES_OFFSET + 4, f.extendedSize, true);
  dv.setBigUint64(SW_BYTES_OFFSET + 8, f.xfeatures, true);
  dv.setUint32(SW_BYTES_OFFSET + 16, f.xstateSize, true);
  // XSAVE header: xstate_bv, xcomp_bv = 0, reserved = 0.
  if (f.size >= MIN_XSTATE_SIZE) {
    buf.fill(0, XSAVE_HDR_OFFSET, XSAVE_HDR_OFFSET + 64);
    dv.setBigUint64(XSAVE_HDR_OFFSET, f.xstateBv, true);
  }
  for (const [bit, offset, size] of f.components) {
    if (bit < 2) continue;
    fillComponent(buf, bit, offset, size);
  }
  if (f.magic2At !== null && f.magic2At + 4 <= f.size) dv.setUint32(f.magic2At, FP_XSTATE_MAGIC2, true);
  return buf;
}

export interface FrameOptions {
  /** Components the process uses (in A's xstate_bv); FP|SSE are always added. */
  uses: bigint;
  /** A's MXCSR_MASK (default 0xffbf when unknown). */
  fromMxcsrMask?: number;
  mxcsr?: number;
}

/** Room past the largest frame so reads beyond the source's frame land in "stack" bytes. */
function bufferSize(from: XsaveLayout, to: XsaveLayout): number {
  const need = Math.max(from.userSize, to.userSize, to.maxUserSize, standardEnd(to)) + 4;
  return (need + 64 + 63) & ~63;
}

function standardEnd(l: XsaveLayout): number {
  let end = MIN_XSTATE_SIZE;
  for (const c of l.components) if (!c.supervisor && c.inXcr0) end = Math.max(end, c.offset + c.size);
  return end;
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
  const size = from.xsave ? from.userSize : FXSAVE_SIZE;
  const written = from.xsave ? size + 4 : size;
  const placements: Placement[] = [];
  for (const b of bitsOf(uses)) {
    const c = comp(from, b);
    if (c) placements.push({ bit: b, offset: c.offset, size: c.size });
  }
  const mxcsr = opts.mxcsr ?? MXCSR_DEFAULT;
  const total = altstack ? (written + 63) & ~63 : Math.max(bufferSize(from, to), written);
  const fpstate = encode({
    size: total,
    xfeatures: from.xsave ? from.userFeatures : MASK_FPSSE,
    xstateBv: uses,
    xstateSize: size,
    extendedSize: written,
    magic2At: from.xsave ? size : null,
    mxcsr,
    mxcsrMask: opts.fromMxcsrMask || DEFAULT_MXCSR_MASK,
    components: placements.map((p) => [p.bit, p.offset, p.size]),
  });
  return {
    id: altstack ? "kernel-altstack" : "kernel",
    style: altstack ? "kernel-altstack" : "kernel",
    description: altstack
      ? "a frame the source kernel wrote at the top of a sigaltstack (nothing mapped past it)"
      : "a frame the source kernel wrote (a thread inside a signal handler at checkpoint time)",
    fpstate,
    readableBytes: total,
    placements,
    writtenBytes: written,
    xstateSize: size,
    mxcsr,
  };
}

/**
 * The frame CRIU's restorer builds on B (restore_fpu(), construct_sigframe()): each component the
 * image has and B supports copied to B's offset, xstate_size = end of the last one copied,
 * magic2 right there. Components B lacks are skipped; components CRIU has no field for are lost.
 */
export function criuFrame(from: XsaveLayout, to: XsaveLayout, opts: FrameOptions): FrameCase {
  const uses = (opts.uses & from.userFeatures) | MASK_FPSSE;
  let xstateBv = MASK_FPSSE;
  let xstateSize = MIN_XSTATE_SIZE;
  const placements: Placement[] = [
    { bit: 0, offset: 0, size: 160 },
    { bit: 1, offset: 160, size: 256 },
  ];
  for (const b of CRIU_COMPONENTS) {
    if (!hasBit(uses, b) || !hasBit(to.userFeatures, b) || !to.xsave) continue;
    const c = comp(to, b);
    if (!c) continue;
    xstateBv |= 1n << BigInt(b);
    placements.push({ bit: b, offset: c.offset, size: c.size });
    xstateSize = Math.max(xstateSize, c.offset + c.size);
  }
  const notCarried = bitsOf(uses).filter((b) => b >= 2 && !CRIU_COMPONENTS.includes(b));
  const mxcsr = opts.mxcsr ?? MXCSR_DEFAULT;
  const total = Math.max(bufferSize(from, to), xstateSize + 4);
  const fpstate = encode({
    size: total,
    xfeatures: xstateBv,
    xstateBv,
    xstateSize,
    extendedSize: xstateSize + 4,
    magic2At: xstateSize,
    mxcsr,
    mxcsrMask: opts.fromMxcsrMask || DEFAULT_MXCSR_MASK,
    components: placements.map((p) => [p.bit, p.offset, p.size]),
  });
  // Components used on A that B lacks are expected too: their loss is what the check reports.
  for (const b of bitsOf(uses)) {
    if (b < 2 || placements.some((p) => p.bit === b) || notCarried.includes(b)) continue;
    const c = comp(from, b);
    if (c) placements.push({ bit: b, offset: -1, size: c.size });
  }
  const f: FrameCase = {
    id: "criu",
    style: "criu",
    description:
      "the frame CRIU's restorer builds on the destination (per-component relocation, trimmed xstate_size)",
    fpstate,
    readableBytes: total,
    placements,
    writtenBytes: xstateSize + 4,
    xstateSize,
    mxcsr,
  };
  if (notCarried.length) f.notCarried = notCarried;
  return f;
}

/**
 * A restorer that copies A's XSAVE bytes as they are (gVisor's fpu State.AfterLoad()): a buffer
 * of B's size holding A's bytes (cut at B's size), sw_reserved written for B, xstate_bv as on A
 * minus the components it ignores. It refuses state whose xstate_bv B does not support.
 */
export function rawCopyFrame(from: XsaveLayout, to: XsaveLayout, opts: FrameOptions): FrameCase {
  const uses = (opts.uses & from.userFeatures & RAW_COPY_SUPPORTED) | MASK_FPSSE;
  const fpLen = to.xsave ? to.userSize : FXSAVE_SIZE;
  const written = Math.min(from.userSize, fpLen);
  const placements: Placement[] = [];
  const components: [number, number, number][] = [];
  for (const b of bitsOf(uses)) {
    const c = comp(from, b);
    if (!c) continue;
    placements.push({ bit: b, offset: c.offset, size: c.size });
    if (c.offset < written) components.push([b, c.offset, Math.min(c.size, written - c.offset)]);
  }
  const refused = bitsOf(uses).filter((b) => !hasBit(to.xcr0, b));
  const xstateBv = uses;
  const mxcsr = opts.mxcsr ?? MXCSR_DEFAULT;
  const total = Math.max(bufferSize(from, to), fpLen + 4);
  const fpstate = encode({
    size: total,
    xfeatures: RAW_COPY_SW_XFEATURES,
    xstateBv,
    xstateSize: fpLen,
    extendedSize: fpLen + 4,
    magic2At: fpLen,
    mxcsr,
    mxcsrMask: opts.fromMxcsrMask || DEFAULT_MXCSR_MASK,
    components,
  });
  // Bytes of A's buffer past B's size are cut, not copied: whatever the buffer held stays there.
  const f: FrameCase = {
    id: "raw-copy",
    style: "raw-copy",
    description: "a restorer that copies the source's XSAVE bytes unchanged (gVisor)",
    fpstate,
    readableBytes: total,
    placements,
    writtenBytes: written,
    xstateSize: fpLen,
    mxcsr,
  };
  if (refused.length) f.refused = refused;
  return f;
}

export interface StandardFrameOptions extends FrameOptions {
  /** Which restorer-built frames to add beside the kernel-written ones; default both. */
  restorers?: ("criu" | "raw-copy")[];
  /** B's MXCSR_MASK, when known: adds an MXCSR case if A accepts DAZ and B does not. */
  toMxcsrMask?: number;
}

/** The representative frames for a pair: kernel-written (stack and altstack) and restorer-built. */
export function standardFrames(from: XsaveLayout, to: XsaveLayout, opts: StandardFrameOptions): FrameCase[] {
  const out: FrameCase[] = [kernelFrame(from, to, opts), kernelFrame(from, to, opts, true)];
  const restorers = opts.restorers ?? ["criu", "raw-copy"];
  if (restorers.includes("criu")) out.push(criuFrame(from, to, opts));
  if (restorers.includes("raw-copy")) out.push(rawCopyFrame(from, to, opts));
  const a = opts.fromMxcsrMask || DEFAULT_MXCSR_MASK;
  const b = opts.toMxcsrMask === undefined ? undefined : opts.toMxcsrMask || DEFAULT_MXCSR_MASK;
  if (opts.fromMxcsrMask !== undefined && b !== undefined && a & ~b & 0xffff) {
    const extra = a & ~b & 0xffff;
    const f = kernelFrame(from, to, { ...opts, mxcsr: MXCSR_DEFAULT | extra });
    f.id = "mxcsr";
    f.style = "mxcsr";
    f.description = `a frame from the source whose MXCSR sets ${extra & MXCSR_DAZ ? "DAZ (bit 6)" : `bits 0x${extra.toString(16)}`}, valid there`;
    out.push(f);
  }
  return out;
}
