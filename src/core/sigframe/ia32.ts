/**
 * The ia32 FPU area (32-bit tasks on FXSR CPUs): the 112-byte FSAVE header (struct fregs_state,
 * UAPI _fpstate_32 up to `status`/`magic`) followed by the FXSAVE/XSAVE image at +112, which is
 * the 64-byte aligned buf_fx (arch/x86/kernel/fpu/signal.c fpu__alloc_mathframe(),
 * save_fsave_header()). sw_bytes.extended_size includes the 112 bytes.
 *
 * Also the whole ia32 frame: struct rt_sigframe_ia32 (268 bytes) and the non-rt struct
 * sigframe_ia32 (732 bytes), with the area their u32 fpstate pointer names.
 * decodeIa32SigframeImage and encodeIa32SigframeImage are exact inverses.
 */
import { ByteView, ByteWriter } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type ByteRun, Claims, type FieldValues, readTable, writeRuns, writeTable } from "./codec.ts";
import {
  COMPAT_SIGINFO_FIELDS,
  type FieldDef,
  KERNEL_IA32_FPSTATE_OFFSET,
  KERNEL_IA32_RT_FPSTATE_OFFSET,
  RT_SIGFRAME_IA32_HEAD_FIELDS,
  RT_SIGFRAME_IA32_INFO_OFFSET,
  RT_SIGFRAME_IA32_RETCODE_OFFSET,
  RT_SIGFRAME_IA32_SIZE,
  RT_SIGFRAME_IA32_UC_OFFSET,
  SIGCONTEXT_32_FIELDS,
  SIGFRAME_IA32_EXTRAMASK_OFFSET,
  SIGFRAME_IA32_HEAD_FIELDS,
  SIGFRAME_IA32_RETCODE_OFFSET,
  SIGFRAME_IA32_SC_OFFSET,
  SIGFRAME_IA32_SIZE,
  UC_IA32_MCONTEXT_OFFSET,
  UC_IA32_SIGMASK_OFFSET,
  UCONTEXT_IA32_HEAD_FIELDS,
} from "./fields.ts";
import { type DecodeFpstateOptions, decodeFpstate, encodeFpstate, type Fpstate } from "./fpstate.ts";

export const FSAVE_SIZE = 112;
/** _fpstate_32.magic: X86_FXSR_MAGIC (0x0000) = FXSR data follows; 0xffff = FSAVE only. */
export const X86_FXSR_MAGIC = 0x0000;

const st: FieldDef[] = [];
for (let i = 0; i < 8; i++) st.push([`st${i}`, 28 + 10 * i, 10]);
export const FSAVE_FIELDS = [
  ["cwd", 0, 4],
  ["swd", 4, 4],
  ["twd", 8, 4],
  ["fip", 12, 4],
  ["fcs", 16, 4],
  ["foo", 20, 4],
  ["fos", 24, 4],
  ...st,
  ["status", 108, 2],
  ["magic", 110, 2],
] as const satisfies readonly FieldDef[];

export type FsaveHeader = FieldValues<typeof FSAVE_FIELDS>;

export interface Ia32Fpstate {
  size: number;
  fsave: FsaveHeader;
  /** The FXSAVE/XSAVE image at +112; absent for an FSAVE-only area (magic 0xffff, 112 bytes). */
  fx?: Fpstate;
  /** Non-zero bytes of the header area no field covers (none: the header is fully named). */
  extra: ByteRun[];
}

export function decodeIa32Fpstate(bytes: Uint8Array, opts: DecodeFpstateOptions = {}): Ia32Fpstate {
  const path = opts.path ?? "fpstate";
  const v = new ByteView(bytes, opts.base ?? 0);
  const claims = new Claims(Math.min(bytes.length, FSAVE_SIZE));
  const fsave = readTable(v, 0, FSAVE_FIELDS, `${path}/fsave`, claims);
  const out: Ia32Fpstate = { size: bytes.length, fsave, extra: [] };
  if (bytes.length > FSAVE_SIZE || fsave.magic !== 0xffffn) {
    out.fx = decodeFpstate(bytes.subarray(FSAVE_SIZE), {
      ...opts,
      base: (opts.base ?? 0) + FSAVE_SIZE,
      path: `${path}/fxsave`,
    });
  }
  out.extra = claims.extra(bytes.subarray(0, FSAVE_SIZE));
  return out;
}

export function encodeIa32Fpstate(fp: Ia32Fpstate): Uint8Array {
  const need = FSAVE_SIZE + (fp.fx ? fp.fx.size : 0);
  if (fp.size !== need) {
    throw new InvalidDataError(`fpstate: ${fp.size} bytes given, the header and image need ${need}`, {
      path: "fpstate",
    });
  }
  const w = new ByteWriter(fp.size);
  writeTable(w, 0, FSAVE_FIELDS, fp.fsave, "fpstate/fsave");
  writeRuns(w, 0, fp.extra, "fpstate/fsave");
  if (fp.fx) w.set(FSAVE_SIZE, encodeFpstate(fp.fx, "fpstate/fxsave"));
  return w.bytes;
}

export type Sigcontext32 = FieldValues<typeof SIGCONTEXT_32_FIELDS>;
export type UcontextIa32Head = FieldValues<typeof UCONTEXT_IA32_HEAD_FIELDS>;
export type CompatSiginfo = FieldValues<typeof COMPAT_SIGINFO_FIELDS>;

/** `rt`: struct rt_sigframe_ia32 (SA_SIGINFO handlers); `sigframe`: struct sigframe_ia32. */
export type Ia32FrameKind = "rt" | "sigframe";

export interface Ia32Sigframe {
  kind: Ia32FrameKind;
  pretcode: bigint;
  sig: bigint;
  /** rt only: addresses of info and uc (the handler's 2nd and 3rd arguments). */
  pinfo?: bigint;
  puc?: bigint;
  /** rt only. */
  info?: CompatSiginfo;
  /** rt only: uc_flags, uc_link, uc_stack. */
  uc?: UcontextIa32Head;
  mcontext: Sigcontext32;
  /** rt only: compat_sigset_t (two u32 words as one u64). */
  ucSigmask?: bigint;
  /** sigframe only: the second word of the blocked mask (the first is sc.oldmask). */
  extramask?: bigint;
  /** retcode[8] as a little-endian u64. */
  retcode: bigint;
}

export interface Ia32SigframeImage {
  frame: Ia32Sigframe;
  /** Address of the input's first byte. */
  base: bigint;
  baseSource: "given" | "inferred-kernel" | "inferred-magic" | "none";
  /** Offset of the FPU area (the FSAVE header) in the input, when the pointer lands inside it. */
  fpstateOffset?: number;
  fpstate?: Ia32Fpstate;
  size: number;
  /** Non-zero bytes outside the frame's fields and the FPU area (fpstate_unused, stale data). */
  extra: ByteRun[];
}

export interface DecodeIa32FrameOptions {
  kind?: Ia32FrameKind;
  base?: bigint;
  layout?: XsaveLayout;
  strict?: boolean;
}

/** Where the sigcontext sits in each kind of frame. */
export function ia32SigcontextOffset(kind: Ia32FrameKind): number {
  return kind === "rt" ? RT_SIGFRAME_IA32_UC_OFFSET + UC_IA32_MCONTEXT_OFFSET : SIGFRAME_IA32_SC_OFFSET;
}

export function ia32FrameSize(kind: Ia32FrameKind): number {
  return kind === "rt" ? RT_SIGFRAME_IA32_SIZE : SIGFRAME_IA32_SIZE;
}

/** Where the kernel puts the FSAVE header relative to the frame. */
export function kernelIa32FpstateOffset(kind: Ia32FrameKind): number {
  return kind === "rt" ? KERNEL_IA32_RT_FPSTATE_OFFSET : KERNEL_IA32_FPSTATE_OFFSET;
}

function frameName(kind: Ia32FrameKind): string {
  return kind === "rt" ? "rt_sigframe_ia32" : "sigframe_ia32";
}

function readIa32Frame(v: ByteView, kind: Ia32FrameKind, claims: Claims): Ia32Sigframe {
  const size = ia32FrameSize(kind);
  if (v.length < size) {
    throw new TruncatedInputError(
      `input ends at ${v.length} bytes; a ${frameName(kind)} (${size} bytes) does not fit`,
      { offset: v.length, path: "frame" },
    );
  }
  const sc = ia32SigcontextOffset(kind);
  const mcPath = kind === "rt" ? "frame/uc/uc_mcontext" : "frame/sc";
  if (kind === "rt") {
    const head = readTable(v, 0, RT_SIGFRAME_IA32_HEAD_FIELDS, "frame", claims);
    const frame: Ia32Sigframe = {
      kind,
      pretcode: head.pretcode,
      sig: head.sig,
      pinfo: head.pinfo,
      puc: head.puc,
      info: readTable(v, RT_SIGFRAME_IA32_INFO_OFFSET, COMPAT_SIGINFO_FIELDS, "frame/info", claims),
      uc: readTable(v, RT_SIGFRAME_IA32_UC_OFFSET, UCONTEXT_IA32_HEAD_FIELDS, "frame/uc", claims),
      mcontext: readTable(v, sc, SIGCONTEXT_32_FIELDS, mcPath, claims),
      ucSigmask: v.u64(RT_SIGFRAME_IA32_UC_OFFSET + UC_IA32_SIGMASK_OFFSET, "frame/uc/uc_sigmask"),
      retcode: v.u64(RT_SIGFRAME_IA32_RETCODE_OFFSET, "frame/retcode"),
    };
    claims.add(RT_SIGFRAME_IA32_UC_OFFSET + UC_IA32_SIGMASK_OFFSET, 8);
    claims.add(RT_SIGFRAME_IA32_RETCODE_OFFSET, 8);
    return frame;
  }
  const head = readTable(v, 0, SIGFRAME_IA32_HEAD_FIELDS, "frame", claims);
  const frame: Ia32Sigframe = {
    kind,
    pretcode: head.pretcode,
    sig: head.sig,
    mcontext: readTable(v, sc, SIGCONTEXT_32_FIELDS, mcPath, claims),
    extramask: BigInt(v.u32(SIGFRAME_IA32_EXTRAMASK_OFFSET, "frame/extramask")),
    retcode: v.u64(SIGFRAME_IA32_RETCODE_OFFSET, "frame/retcode"),
  };
  claims.add(SIGFRAME_IA32_EXTRAMASK_OFFSET, 4);
  claims.add(SIGFRAME_IA32_RETCODE_OFFSET, 8);
  return frame;
}

function writeIa32Frame(w: ByteWriter, f: Ia32Sigframe): void {
  const sc = ia32SigcontextOffset(f.kind);
  const mcPath = f.kind === "rt" ? "frame/uc/uc_mcontext" : "frame/sc";
  if (f.kind === "rt") {
    writeTable(
      w,
      0,
      RT_SIGFRAME_IA32_HEAD_FIELDS,
      { pretcode: f.pretcode, sig: f.sig, pinfo: f.pinfo ?? 0n, puc: f.puc ?? 0n },
      "frame",
    );
    if (f.info) writeTable(w, RT_SIGFRAME_IA32_INFO_OFFSET, COMPAT_SIGINFO_FIELDS, f.info, "frame/info");
    if (f.uc) writeTable(w, RT_SIGFRAME_IA32_UC_OFFSET, UCONTEXT_IA32_HEAD_FIELDS, f.uc, "frame/uc");
    writeTable(w, sc, SIGCONTEXT_32_FIELDS, f.mcontext, mcPath);
    writeTable(
      w,
      RT_SIGFRAME_IA32_UC_OFFSET + UC_IA32_SIGMASK_OFFSET,
      [["uc_sigmask", 0, 8]],
      { uc_sigmask: f.ucSigmask ?? 0n },
      "frame/uc",
    );
    writeTable(w, RT_SIGFRAME_IA32_RETCODE_OFFSET, [["retcode", 0, 8]], { retcode: f.retcode }, "frame");
    return;
  }
  writeTable(w, 0, SIGFRAME_IA32_HEAD_FIELDS, { pretcode: f.pretcode, sig: f.sig }, "frame");
  writeTable(w, sc, SIGCONTEXT_32_FIELDS, f.mcontext, mcPath);
  writeTable(
    w,
    SIGFRAME_IA32_EXTRAMASK_OFFSET,
    [["extramask", 0, 4]],
    { extramask: f.extramask ?? 0n },
    "frame",
  );
  writeTable(w, SIGFRAME_IA32_RETCODE_OFFSET, [["retcode", 0, 8]], { retcode: f.retcode }, "frame");
}

/** magic1 sits 112 + 464 bytes into an FXSR ia32 FPU area. */
export const IA32_MAGIC1_OFFSET = FSAVE_SIZE + SW_BYTES_OFFSET;

/** Placements of the FSAVE header that builders use, relative to the frame start. */
const IA32_PLACEMENTS: Record<Ia32FrameKind, number[]> = {
  rt: [KERNEL_IA32_RT_FPSTATE_OFFSET],
  sigframe: [KERNEL_IA32_FPSTATE_OFFSET],
};

/**
 * Decodes an ia32 frame image: the frame, the FPU area its u32 fpstate pointer names (FSAVE
 * header and FXSAVE/XSAVE image), and every other byte. Without a base, the first byte's address
 * is inferred from the kernel's placement of the area (magic1 there first).
 */
export function decodeIa32SigframeImage(
  bytes: Uint8Array,
  opts: DecodeIa32FrameOptions = {},
): Ia32SigframeImage {
  const kind = opts.kind ?? "rt";
  const v = new ByteView(bytes);
  const claims = new Claims(bytes.length);
  const frame = readIa32Frame(v, kind, claims);
  const img: Ia32SigframeImage = { frame, base: 0n, baseSource: "none", size: bytes.length, extra: [] };
  const ptr = frame.mcontext.fpstate;
  if (opts.base !== undefined) {
    img.base = opts.base;
    img.baseSource = "given";
  } else if (ptr !== 0n) {
    for (const off of IA32_PLACEMENTS[kind]) {
      if (
        off + IA32_MAGIC1_OFFSET + 4 <= bytes.length &&
        v.u32(off + IA32_MAGIC1_OFFSET, "fpstate") === FP_XSTATE_MAGIC1
      ) {
        img.base = ptr - BigInt(off);
        img.baseSource = "inferred-magic";
        break;
      }
    }
    const kernel = kernelIa32FpstateOffset(kind);
    if (img.baseSource === "none" && bytes.length >= kernel + FSAVE_SIZE + 512) {
      img.base = ptr - BigInt(kernel);
      img.baseSource = "inferred-kernel";
    }
  }
  if (ptr !== 0n && img.baseSource !== "none") {
    const rel = ptr - img.base;
    if (rel >= 0n && rel + BigInt(FSAVE_SIZE) <= BigInt(bytes.length)) {
      const off = Number(rel);
      const fpOpts: DecodeFpstateOptions = { base: off };
      if (opts.layout) fpOpts.layout = opts.layout;
      if (opts.strict !== undefined) fpOpts.strict = opts.strict;
      img.fpstate = decodeIa32Fpstate(bytes.subarray(off), fpOpts);
      img.fpstateOffset = off;
      claims.add(off, bytes.length - off);
    }
  }
  img.extra = claims.extra(bytes);
  return img;
}

export function encodeIa32SigframeImage(img: Ia32SigframeImage): Uint8Array {
  const need = ia32FrameSize(img.frame.kind);
  if (!Number.isSafeInteger(img.size) || img.size < need) {
    throw new InvalidDataError(`frame: ${img.size} bytes cannot hold a ${frameName(img.frame.kind)}`, {
      path: "frame",
    });
  }
  const w = new ByteWriter(img.size);
  writeIa32Frame(w, img.frame);
  if (img.fpstate && img.fpstateOffset !== undefined) {
    if (img.fpstateOffset + img.fpstate.size > img.size) {
      throw new InvalidDataError("fpstate: the FPU area runs past the end of the image", { path: "fpstate" });
    }
    w.set(img.fpstateOffset, encodeIa32Fpstate(img.fpstate));
  }
  writeRuns(w, 0, img.extra, "frame/extra");
  return w.bytes;
}
