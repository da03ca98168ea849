/**
 * The x86-64 rt_sigframe (arch/x86/include/asm/sigframe.h): pretcode, struct ucontext with its
 * sigcontext, siginfo; and a whole frame image: the frame, the FPU area its fpstate pointer
 * names, and every other byte. decodeSigframeImage and encodeSigframeImage are exact inverses.
 *
 * Two starts are supported: `pretcode` (the frame as the kernel writes it, rsp at handler entry)
 * and `uc` (from uc_flags on, as an SROP payload sits on the stack when rt_sigreturn runs:
 * the kernel reads the frame at rsp - 8, pwntools' SigreturnFrame).
 */
import { ByteView, ByteWriter } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type ByteRun, Claims, type FieldValues, readTable, writeRuns, writeTable } from "./codec.ts";
import {
  KERNEL_FPSTATE_OFFSET,
  RT_SIGFRAME_INFO_OFFSET,
  RT_SIGFRAME_SIZE,
  RT_SIGFRAME_UC_OFFSET,
  SIGCONTEXT_FIELDS,
  SIGINFO_FIELDS,
  UC_MCONTEXT_OFFSET,
  UC_SIGMASK_OFFSET,
  UCONTEXT_HEAD_FIELDS,
} from "./fields.ts";
import { decodeFpstate, encodeFpstate, type Fpstate } from "./fpstate.ts";

export type Sigcontext = FieldValues<typeof SIGCONTEXT_FIELDS>;
export type UcontextHead = FieldValues<typeof UCONTEXT_HEAD_FIELDS>;
export type Siginfo = FieldValues<typeof SIGINFO_FIELDS>;
export type FrameStart = "pretcode" | "uc";

export interface RtSigframe {
  start: FrameStart;
  /** sa_restorer address; only when the frame starts at pretcode. */
  pretcode?: bigint;
  uc: UcontextHead;
  mcontext: Sigcontext;
  /** uc_sigmask; absent in a 248-byte SROP payload that ends before it. */
  ucSigmask?: bigint;
  /** Only when the frame starts at pretcode. */
  info?: Siginfo;
}

/** sigcontext fields through reserved1[1]: what a 248-byte SROP payload holds. */
const REQUIRED_SIGCONTEXT_FIELDS = 29;

/** Offset of uc_flags in the input for each start. */
export function ucOffset(start: FrameStart): number {
  return start === "pretcode" ? RT_SIGFRAME_UC_OFFSET : 0;
}

/** Bytes the frame structure itself needs. */
export function frameMinSize(start: FrameStart): number {
  return start === "pretcode" ? RT_SIGFRAME_SIZE : UC_MCONTEXT_OFFSET + 208; // through reserved1[1]: pwntools' 248
}

export interface SigframeImage {
  frame: RtSigframe;
  /** Address of the input's first byte. */
  base: bigint;
  /** How `base` was found. */
  baseSource: "given" | "inferred-kernel" | "inferred-magic" | "none";
  /** Offset of the FPU area in the input, when the fpstate pointer lands inside it. */
  fpstateOffset?: number;
  fpstate?: Fpstate;
  size: number;
  /** Non-zero bytes outside the frame's fields and the FPU area. */
  extra: ByteRun[];
}

export interface DecodeFrameOptions {
  start?: FrameStart;
  /** Address of the first byte; else inferred from the fpstate pointer where possible. */
  base?: bigint;
  layout?: XsaveLayout;
  strict?: boolean;
}

function readFrame(v: ByteView, start: FrameStart, claims: Claims): RtSigframe {
  const uc = ucOffset(start);
  if (v.length < frameMinSize(start)) {
    const what =
      start === "pretcode" ? "an rt_sigframe (440 bytes)" : "a ucontext through uc_mcontext (248 bytes)";
    throw new TruncatedInputError(`input ends at ${v.length} bytes; ${what} does not fit`, {
      offset: v.length,
      path: start === "pretcode" ? "frame" : "uc",
    });
  }
  const frame: RtSigframe = {
    start,
    uc: readTable(v, uc, UCONTEXT_HEAD_FIELDS, "frame/uc", claims),
    mcontext: readTable(
      v,
      uc + UC_MCONTEXT_OFFSET,
      SIGCONTEXT_FIELDS.slice(0, REQUIRED_SIGCONTEXT_FIELDS),
      "frame/uc/uc_mcontext",
      claims,
    ) as Sigcontext,
  };
  // reserved1[2..7] and uc_sigmask may be missing from a 248-byte payload.
  const mc = frame.mcontext as Record<string, bigint>;
  for (const [name, off, size] of SIGCONTEXT_FIELDS.slice(REQUIRED_SIGCONTEXT_FIELDS)) {
    if (v.has(uc + UC_MCONTEXT_OFFSET + off, size)) {
      mc[name] = v.u64(uc + UC_MCONTEXT_OFFSET + off, `frame/uc/uc_mcontext/${name}`);
      claims.add(uc + UC_MCONTEXT_OFFSET + off, size);
    }
  }
  if (v.has(uc + UC_SIGMASK_OFFSET, 8)) {
    frame.ucSigmask = v.u64(uc + UC_SIGMASK_OFFSET, "frame/uc/uc_sigmask");
    claims.add(uc + UC_SIGMASK_OFFSET, 8);
  }
  if (start === "pretcode") {
    frame.pretcode = v.u64(0, "frame/pretcode");
    claims.add(0, 8);
    frame.info = readTable(v, RT_SIGFRAME_INFO_OFFSET, SIGINFO_FIELDS, "frame/info", claims);
  }
  return frame;
}

/** The frame's fields only (no FPU area), into `w` at the right offsets. */
function writeFrame(w: ByteWriter, f: RtSigframe): void {
  const uc = ucOffset(f.start);
  writeTable(w, uc, UCONTEXT_HEAD_FIELDS, f.uc, "frame/uc");
  const mc = f.mcontext as Record<string, bigint>;
  const present = SIGCONTEXT_FIELDS.filter(
    ([name], i) => i < REQUIRED_SIGCONTEXT_FIELDS || mc[name] !== undefined,
  );
  writeTable(w, uc + UC_MCONTEXT_OFFSET, present, mc, "frame/uc/uc_mcontext");
  if (f.ucSigmask !== undefined) w.u64(uc + UC_SIGMASK_OFFSET, f.ucSigmask);
  if (f.start === "pretcode") {
    w.u64(0, f.pretcode ?? 0n);
    if (f.info) writeTable(w, RT_SIGFRAME_INFO_OFFSET, SIGINFO_FIELDS, f.info, "frame/info");
  }
}

/** Placements of the FPU area that builders of frames use, relative to the input start. */
const KNOWN_PLACEMENTS: Record<FrameStart, number[]> = {
  // kernel (get_sigframe), CRIU (rt_sigframe_64 with a 64-aligned fpu_state after info)
  pretcode: [KERNEL_FPSTATE_OFFSET, 448],
  // an SROP payload with an FPU area appended at the next 64-byte boundary after uc_sigmask
  uc: [320, 256 + 64],
};

export function decodeSigframeImage(bytes: Uint8Array, opts: DecodeFrameOptions = {}): SigframeImage {
  const start = opts.start ?? "pretcode";
  const v = new ByteView(bytes);
  const claims = new Claims(bytes.length);
  const frame = readFrame(v, start, claims);
  const img: SigframeImage = { frame, base: 0n, baseSource: "none", size: bytes.length, extra: [] };
  const ptr = frame.mcontext.fpstate;
  if (opts.base !== undefined) {
    img.base = opts.base;
    img.baseSource = "given";
  } else if (ptr !== 0n) {
    // No base given: find the area where the known builders put it (magic1 first, else kernel).
    for (const off of KNOWN_PLACEMENTS[start]) {
      if (
        off + SW_BYTES_OFFSET + 4 <= bytes.length &&
        v.u32(off + SW_BYTES_OFFSET, "fpstate") === FP_XSTATE_MAGIC1
      ) {
        img.base = ptr - BigInt(off);
        img.baseSource = "inferred-magic";
        break;
      }
    }
    if (img.baseSource === "none" && start === "pretcode" && bytes.length >= KERNEL_FPSTATE_OFFSET + 512) {
      img.base = ptr - BigInt(KERNEL_FPSTATE_OFFSET);
      img.baseSource = "inferred-kernel";
    }
  }
  if (ptr !== 0n && img.baseSource !== "none") {
    const rel = ptr - img.base;
    // A cut capture (strict: false) may hold less than the legacy region of its FPU area.
    const need = opts.strict === false ? 1n : 512n;
    if (rel >= 0n && rel + need <= BigInt(bytes.length)) {
      const off = Number(rel);
      const fpOpts: Parameters<typeof decodeFpstate>[1] = { base: off };
      if (opts.layout) fpOpts.layout = opts.layout;
      if (opts.strict !== undefined) fpOpts.strict = opts.strict;
      img.fpstate = decodeFpstate(bytes.subarray(off), fpOpts);
      img.fpstateOffset = off;
      claims.add(off, bytes.length - off);
    }
  }
  img.extra = claims.extra(bytes);
  return img;
}

export function encodeSigframeImage(img: SigframeImage): Uint8Array {
  if (!Number.isSafeInteger(img.size) || img.size < frameMinSize(img.frame.start)) {
    throw new InvalidDataError(`frame: ${img.size} bytes cannot hold the frame`, { path: "frame" });
  }
  const w = new ByteWriter(img.size);
  writeFrame(w, img.frame);
  if (img.fpstate && img.fpstateOffset !== undefined) {
    if (img.fpstateOffset + img.fpstate.size > img.size) {
      throw new InvalidDataError("fpstate: the FPU area runs past the end of the image", { path: "fpstate" });
    }
    w.set(img.fpstateOffset, encodeFpstate(img.fpstate));
  }
  writeRuns(w, 0, img.extra, "frame/extra");
  return w.bytes;
}
