/**
 * Frame builders: the same register state written the way three producers write it.
 *
 * - `kernel`: what the kernel writes on delivery (arch/x86/kernel/fpu/signal.c
 *   copy_fpstate_to_sigframe(), save_xstate_epilog(); v6.12+ PKRU handling): xstate_size =
 *   user_size, sw xfeatures = the task's user features, xstate_bv = components in use | FP|SSE,
 *   magic2 at user_size, area of user_size + 4 bytes.
 * - `criu`: CRIU's restorer (criu/arch/x86/crtools.c restore_fpu()): components in use that the
 *   host has, copied to the host's offsets, xstate_size trimmed to the end of the highest one,
 *   sw xfeatures = xstate_bv, magic2 right after, inside CRIU's 16 KiB xsave buffer.
 * - `pwntools`: SigreturnFrame for amd64 (pwnlib/rop/srop.py): a payload from uc_flags on,
 *   248 bytes (uc_sigmask slot at 240, before PR #2762) or 304 bytes (after), fpstate 0 —
 *   optionally with a kernel-style FPU area appended and pointed to.
 */
import { ByteWriter } from "../bytes.ts";
import { InvalidDataError, UsageError } from "../errors.ts";
import { bit, hasBit, hex } from "../hex.ts";
import { MXCSR_INIT, MXCSR_MASK_FXSAVE_ZERO, MXCSR_MASK_SSE2 } from "../mxcsr.ts";
import {
  componentInfo,
  FP_XSTATE_MAGIC2,
  FXSAVE_SIZE,
  MASK_FPSSE,
  MIN_XSTATE_SIZE,
  XFEATURE,
} from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { pkruKey0, pkruKey0Words } from "../xsave/pkru.ts";
import {
  KERNEL_FPSTATE_OFFSET,
  RT_SIGFRAME_SIZE,
  SIGCONTEXT_FIELDS,
  UC_FP_XSTATE,
  UC_SIGCONTEXT_SS,
  UC_STRICT_RESTORE_SS,
  UCONTEXT_SIZE,
} from "./fields.ts";
import {
  componentSlots,
  decodeFpstate,
  encodeFpstate,
  type Fpstate,
  type LegacyRegisters,
  writeSwBytes,
  writeXsaveHeader,
  xsaveSwBytes,
  zeroRegisters,
} from "./fpstate.ts";
import { encodeSigframeImage, type RtSigframe, type SigframeImage } from "./frame.ts";
import type { RegisterState } from "./state.ts";
import { emptyState } from "./state.ts";

export type BuildStyle = "kernel" | "criu" | "pwntools";
export type PwntoolsVariant = 248 | 304;

/** XSAVE_SIZE of CRIU's xsave_struct (compel/arch/x86/src/lib/include/uapi/asm/fpu.h, 4 × 4096). */
export const CRIU_XSAVE_SIZE = 16384;
/** Linux's initial PKRU (init_pkru_value): key 0 open, keys 1–15 access-disabled. */
export const LINUX_INIT_PKRU = 0x55555554n;
/** MXCSR_MASK written when the profile does not record one (an x86-64 CPU with DAZ). */
export const DEFAULT_FXSAVE_MXCSR_MASK = BigInt(MXCSR_MASK_SSE2);
/** Where the fpstate goes when the caller gives no address (64-byte aligned user stack). */
export const DEFAULT_BUILD_FPSTATE_ADDRESS = 0x7ffffffde000n;

/** CRIU copies these components, in this order (criu/arch/x86/crtools.c restore_fpu()). */
export const CRIU_COMPONENTS: readonly number[] = [
  XFEATURE.YMM,
  XFEATURE.BNDREGS,
  XFEATURE.BNDCSR,
  XFEATURE.OPMASK,
  XFEATURE.ZMM_Hi256,
  XFEATURE.Hi16_ZMM,
  XFEATURE.PKRU,
];

export interface BuildOptions {
  style: BuildStyle;
  /** The CPU/task the frame is built for; needed whenever an FPU area is emitted. */
  layout?: XsaveLayout;
  state?: RegisterState;
  /** Only the FPU area (the bytes uc_mcontext.fpstate points at). */
  fpstateOnly?: boolean;
  /** pwntools: which SigreturnFrame release to mimic (default 304). */
  pwntoolsVariant?: PwntoolsVariant;
  /** Address of the output's first byte (frame builds); default puts the fpstate at a 64-byte boundary. */
  base?: bigint;
  /** MXCSR_MASK to write in the legacy region (the CPU's; default 0xffff). */
  mxcsrMask?: bigint;
}

export interface BuildResult {
  bytes: Uint8Array;
  fpstate?: Fpstate;
  /** Offset of the FPU area in `bytes`. */
  fpstateOffset?: number;
  image?: SigframeImage;
  /** Facts about the output a user should know. */
  notes: string[];
}

function legacyFrom(state: RegisterState, mxcsrMask: bigint): LegacyRegisters {
  const l: Record<string, bigint> = {};
  for (const k of ["fcw", "fsw", "ftw", "fop", "fip", "fdp", "mxcsr", "mxcsr_mask"]) l[k] = 0n;
  for (let i = 0; i < 8; i++) l[`st${i}`] = 0n;
  for (let i = 0; i < 16; i++) l[`xmm${i}`] = 0n;
  // Init values (FNINIT / MXCSR reset): FCW 0x037f, MXCSR 0x1f80.
  l.fcw = 0x37fn;
  l.mxcsr = BigInt(MXCSR_INIT);
  l.mxcsr_mask = mxcsrMask;
  Object.assign(l, state.legacy);
  return l as LegacyRegisters;
}

function inUse(state: RegisterState, b: number): boolean {
  const rec = state.components.get(b);
  return rec !== undefined && Object.values(rec).some((v) => v !== 0n);
}

/** Components by name, as messages say them: `Hi16_ZMM (bit 7)`. */
function named(bits: readonly number[]): string {
  return bits.map((b) => `${componentInfo(b).name} (bit ${b})`).join(", ");
}

function stateComponentsOutside(state: RegisterState, layout: XsaveLayout, mask: bigint): number[] {
  return [...state.components.keys()].filter(
    (b) => !hasBit(mask, b) || !layout.components.some((c) => c.bit === b),
  );
}

/** The FPU area in one of the styles that carry one. */
export function buildFpstate(
  layout: XsaveLayout,
  state: RegisterState,
  style: "kernel" | "criu",
  mxcsrMask = DEFAULT_FXSAVE_MXCSR_MASK,
  notes: string[] = [],
): Fpstate {
  // Canonical form: what decoding the bytes gives (e.g. CRIU's magic2 inside an unused YMM slot).
  return decodeFpstate(buildFpstateBytes(layout, state, style, mxcsrMask, notes), { layout });
}

/** The bytes of `buildFpstate()`'s area (the same bytes, without decoding them again). */
export function buildFpstateBytes(
  layout: XsaveLayout,
  state: RegisterState,
  style: "kernel" | "criu",
  mxcsrMask = DEFAULT_FXSAVE_MXCSR_MASK,
  notes: string[] = [],
): Uint8Array {
  return encodeFpstate(assembleFpstate(layout, state, style, mxcsrMask, notes));
}

/**
 * A restorer that copies the source's XSAVE bytes as they are (gVisor's fpu State.AfterLoad()):
 * the area the kernel on `from` writes, copied into an area of `to`'s user_size (cut there, so
 * every component stays at the source's offset and is read at the destination's), with the
 * software bytes (`xfeatures`, xstate_size = `to`'s user_size), xstate_bv and magic2 written for
 * `to`. `copied`: how many of the source's bytes are in it.
 */
export function rawCopyFpstate(
  from: XsaveLayout,
  to: XsaveLayout,
  state: RegisterState,
  xfeatures: bigint,
  mxcsrMask = DEFAULT_FXSAVE_MXCSR_MASK,
): { bytes: Uint8Array; copied: number } {
  const src = assembleFpstate(from, state, "kernel", mxcsrMask, []);
  const srcBytes = encodeFpstate(src);
  const len = to.xsave ? to.userSize : FXSAVE_SIZE;
  const copied = Math.min(from.xsave ? from.userSize : FXSAVE_SIZE, len);
  const w = new ByteWriter(len + 4);
  w.set(0, srcBytes.subarray(0, copied));
  writeSwBytes(w, xsaveSwBytes(len, xfeatures));
  if (to.xsave) {
    writeXsaveHeader(w, {
      xstateBv: src.header?.xstateBv ?? MASK_FPSSE,
      xcompBv: 0n,
      reserved: [0n, 0n, 0n, 0n, 0n, 0n],
    });
  }
  w.u32(len, FP_XSTATE_MAGIC2);
  return { bytes: w.bytes, copied };
}

function assembleFpstate(
  layout: XsaveLayout,
  state: RegisterState,
  style: "kernel" | "criu",
  mxcsrMask: bigint,
  notes: string[],
): Fpstate {
  const legacy = legacyFrom(state, mxcsrMask);
  const st = { ...state, components: new Map(state.components) };
  if (hasBit(layout.userFeatures, XFEATURE.PKRU) && !st.components.has(XFEATURE.PKRU)) {
    // Linux tasks start with PKRU = init_pkru_value; signal delivery always stores it (v6.12+).
    st.components.set(XFEATURE.PKRU, { pkru: LINUX_INIT_PKRU });
  }
  if (!layout.xsave) {
    // FXSR-only CPU: save_xstate_epilog() still writes the sw bytes (save_sw_bytes(): extended_size
    // = user_size + FP_XSTATE_MAGIC2_SIZE, user_size 512) but no magic2 (arch/x86/kernel/fpu/signal.c).
    const dropped = [...st.components.keys()];
    if (dropped.length) notes.push(`this CPU has no XSAVE: ${named(dropped)} of the state are not written`);
    return {
      size: 512,
      legacy,
      sw: xsaveSwBytes(512, MASK_FPSSE),
      components: [],
      extra: [],
    };
  }
  let xstateBv = MASK_FPSSE;
  let xstateSize: number;
  let xfeatures: bigint;
  let size: number;
  if (style === "kernel") {
    const outside = stateComponentsOutside(st, layout, layout.userFeatures);
    if (outside.length) notes.push(`${named(outside)}: not among the task's features, not written`);
    for (const c of layout.components)
      if (c.enabled && c.bit >= 2 && inUse(st, c.bit)) xstateBv |= bit(c.bit);
    xstateSize = layout.userSize;
    xfeatures = layout.userFeatures;
    size = xstateSize + 4;
  } else {
    xstateSize = MIN_XSTATE_SIZE;
    for (const b of CRIU_COMPONENTS) {
      const c = layout.components.find((x) => x.bit === b);
      if (!c?.enabled || !inUse(st, b)) continue;
      xstateBv |= bit(b);
      xstateSize = Math.max(xstateSize, c.offset + c.size);
    }
    const skipped = [...st.components.keys()].filter((b) => inUse(st, b) && !hasBit(xstateBv, b));
    if (skipped.length)
      notes.push(`CRIU would drop ${named(skipped)}: not copied by its restorer or absent on this CPU`);
    xfeatures = xstateBv;
    size = Math.max(CRIU_XSAVE_SIZE, xstateSize + 4);
  }
  const pkru = st.components.get(XFEATURE.PKRU)?.pkru;
  if (pkru !== undefined && hasBit(xstateBv, XFEATURE.PKRU) && pkruKey0(Number(pkru & 0xffffffffn)))
    notes.push(`${pkruKey0Words(Number(pkru & 0xffffffffn))}: a sigreturn of this frame kills the task`);
  const header = { xstateBv, xcompBv: 0n, reserved: [0n, 0n, 0n, 0n, 0n, 0n] };
  const components = componentSlots(layout, header)
    .filter((s) => s.offset + s.size <= size)
    .map((s) => {
      const regs = zeroRegisters(s.bit, s.size);
      const given = st.components.get(s.bit);
      // The kernel writes every task component (XSAVE); CRIU only those it sets in xstate_bv.
      const write = style === "kernel" ? hasBit(layout.userFeatures, s.bit) : hasBit(xstateBv, s.bit);
      if (given && write) Object.assign(regs, given);
      return { bit: s.bit, name: s.name, offset: s.offset, size: s.size, registers: regs };
    });
  const fp: Fpstate = {
    size,
    legacy,
    sw: xsaveSwBytes(xstateSize, xfeatures),
    header,
    components,
    magic2: FP_XSTATE_MAGIC2,
    extra: [],
  };
  return fp;
}

function alignUp(v: bigint, a: bigint): bigint {
  return (v + a - 1n) & ~(a - 1n);
}

/** Builds a frame (or only its FPU area) in the chosen style. */
export function buildFrame(opts: BuildOptions): BuildResult {
  const state = opts.state ?? emptyState();
  const notes: string[] = [];
  const mxcsrMask = opts.mxcsrMask ?? DEFAULT_FXSAVE_MXCSR_MASK;
  const wantsFpstate = opts.style !== "pwntools" || opts.fpstateOnly || opts.layout !== undefined;
  if (wantsFpstate && !opts.layout) {
    throw new UsageError(`--cpu is needed: the ${opts.style} style emits an FPU area laid out for a CPU`);
  }
  let fp: Fpstate | undefined;
  if (wantsFpstate)
    fp = buildFpstate(opts.layout!, state, opts.style === "criu" ? "criu" : "kernel", mxcsrMask, notes);
  if (fp) {
    // What the CPU would refuse is still written (a test frame may want it), but said.
    const mask = Number(mxcsrMask) >>> 0 || MXCSR_MASK_FXSAVE_ZERO;
    const mxcsr = Number(fp.legacy.mxcsr) >>> 0;
    if ((mxcsr & ~mask) >>> 0)
      notes.push(
        `MXCSR ${hex(mxcsr)} sets bits outside ${opts.layout ? `${opts.layout.profile.name}'s` : "the CPU's"} MXCSR_MASK ${hex(mask)}: FXRSTOR/XRSTOR raise #GP, so sigreturn of this frame is SIGSEGV`,
      );
  }
  if (opts.fpstateOnly) {
    const bytes = encodeFpstate(fp!);
    if (opts.base !== undefined && opts.base % 64n !== 0n)
      notes.push(
        `--base ${hex(opts.base)} puts the FPU area at an address that is not 64-byte aligned: XRSTOR raises #GP (SIGSEGV) on v5.14+; the kernel always aligns it to 64`,
      );
    return { bytes, fpstate: fp!, fpstateOffset: 0, notes };
  }
  if (opts.base !== undefined && opts.style === "kernel" && opts.base % 16n !== 8n)
    notes.push(
      `--base ${hex(opts.base)} is not 8 mod 16: the kernel puts rt_sigframe (pretcode) at the handler's entry rsp, 16n − 8 (get_sigframe()); this frame starts where no kernel would put one`,
    );

  const start = opts.style === "pwntools" ? "uc" : "pretcode";
  const variant = opts.pwntoolsVariant ?? 304;
  const frameSize = opts.style === "pwntools" ? variant : RT_SIGFRAME_SIZE;
  // Where the FPU area goes: the next 64-byte boundary after the frame (after uc_sigmask for an
  // SROP payload, which the kernel reads at uc + 296 even from a 248-byte payload).
  const frameEnd = opts.style === "pwntools" ? UCONTEXT_SIZE : RT_SIGFRAME_SIZE;
  const defaultOffset = opts.style === "pwntools" ? 320 : opts.style === "criu" ? 448 : KERNEL_FPSTATE_OFFSET;
  const base = opts.base ?? DEFAULT_BUILD_FPSTATE_ADDRESS - BigInt(defaultOffset);
  const fpOffset = fp ? Number(alignUp(base + BigInt(frameEnd), 64n) - base) : undefined;
  const size = fp ? fpOffset! + fp.size : frameSize;

  const f = state.frame;
  const g = (k: string, d = 0n) => f[k] ?? d;
  const ucFlagsDefault =
    opts.style === "pwntools"
      ? 0n
      : (opts.layout?.xsave ? UC_FP_XSTATE : 0n) | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
  const mc: Record<string, bigint> = {};
  // r8 … rip: the general registers, in struct sigcontext order.
  for (const [k] of SIGCONTEXT_FIELDS.slice(
    0,
    SIGCONTEXT_FIELDS.findIndex(([n]) => n === "eflags"),
  ))
    mc[k] = g(k);
  mc.eflags = g("eflags", opts.style === "pwntools" ? 0n : 0x2n);
  mc.cs = g("cs", 0x33n);
  mc.gs = g("gs");
  mc.fs = g("fs");
  mc.ss = g("ss", opts.style === "pwntools" ? 0n : 0x2bn);
  for (const k of ["err", "trapno", "oldmask", "cr2"]) mc[k] = g(k);
  mc.fpstate = fp ? base + BigInt(fpOffset!) : g("fpstate");
  for (let i = 0; i < 8; i++) mc[`reserved1_${i}`] = g(`reserved1_${i}`);
  const frame: RtSigframe = {
    start,
    uc: {
      uc_flags: g("uc_flags", ucFlagsDefault),
      uc_link: g("uc_link"),
      ss_sp: g("ss_sp"),
      ss_flags: g("ss_flags"),
      ss_size: g("ss_size"),
    },
    mcontext: mc as RtSigframe["mcontext"],
  };
  if (opts.style === "pwntools" && variant === 248) {
    // pwntools before PR #2762 packs its "sigmask" at 240, which is reserved1[1] in the kernel's struct.
    if (f.uc_sigmask !== undefined) {
      if (f.reserved1_1 !== undefined && f.reserved1_1 !== f.uc_sigmask)
        throw new InvalidDataError(
          "the 248-byte pwntools frame has one slot for uc_sigmask and reserved1_1",
          { path: "uc_sigmask" },
        );
      mc.reserved1_1 = f.uc_sigmask;
      notes.push(
        "pwntools 248: uc_sigmask is written at offset 240 (reserved1[1]); the kernel reads the mask at 296",
      );
    }
    for (let i = 2; i < 8; i++) delete mc[`reserved1_${i}`];
    if (fp) frame.ucSigmask = 0n;
  } else {
    frame.ucSigmask = g("uc_sigmask");
  }
  if (start === "pretcode") {
    frame.pretcode = g("pretcode");
    frame.info = {
      si_signo: g("si_signo"),
      si_errno: g("si_errno"),
      si_code: g("si_code"),
      sifields: g("sifields"),
    };
  }
  const img: SigframeImage = { frame, base, baseSource: "given", size, extra: [] };
  if (fp) {
    img.fpstate = fp;
    img.fpstateOffset = fpOffset!;
  }
  if (opts.style === "pwntools" && variant === 248 && fp) {
    notes.push(
      "pwntools 248 with an FPU area: the kernel reads uc_sigmask at 296, here zero padding before the area",
    );
  }
  const bytes = encodeSigframeImage(img);
  const out: BuildResult = { bytes, image: img, notes };
  if (fp) {
    out.fpstate = fp;
    out.fpstateOffset = fpOffset!;
  }
  return out;
}
