/**
 * A frame file as `inspect`, `predict` and the explorer read it: a whole rt_sigframe, an SROP
 * payload from uc_flags on, or only the FPU area; the format detected from the bytes unless
 * chosen; decoded, checked, and with the defaults `predict` applies to what lies past the input.
 */
import { isSigframeError, UsageError } from "../errors.ts";
import { type MxcsrMaskInput, mxcsrMaskOf } from "../mxcsr.ts";
import type { Profile } from "../profile.ts";
import { predict } from "../sigreturn/predict.ts";
import type { Policy, PredictInput, Prediction } from "../sigreturn/types.ts";
import { FP_XSTATE_MAGIC1 } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { checkFpstate, checkFrame, checkIa32Fpstate, checkIa32Frame, type Finding } from "./check.ts";
import { detectFrameFormat as detectEvidence } from "./detect.ts";
import {
  KERNEL_IA32_FPSTATE_OFFSET,
  KERNEL_IA32_RT_FPSTATE_OFFSET,
  RT_SIGFRAME_IA32_SIZE,
} from "./fields.ts";
import { decodeFpstate, type Fpstate } from "./fpstate.ts";
import { decodeSigframeImage, type SigframeImage } from "./frame.ts";
import {
  decodeIa32Fpstate,
  decodeIa32SigframeImage,
  FSAVE_SIZE,
  IA32_MAGIC1_OFFSET,
  type Ia32Fpstate,
  type Ia32SigframeImage,
} from "./ia32.ts";

/**
 * How to read the input: the whole rt_sigframe, an SROP payload from uc_flags, or the FPU area
 * only; or a 32-bit task's: its FPU area (FSAVE header + image), rt_sigframe_ia32 or the non-rt
 * sigframe_ia32.
 */
export type FrameFormat = "fpstate" | "frame" | "ucontext" | "ia32-fpstate" | "ia32-frame" | "ia32-sigframe";

/** The formats in words, for the first line of a report. */
export const FRAME_FORMAT_TEXT: Readonly<Record<FrameFormat, string>> = {
  fpstate: "FPU area",
  frame: "rt_sigframe",
  ucontext: "ucontext (SROP payload)",
  "ia32-fpstate": "ia32 FPU area",
  "ia32-frame": "rt_sigframe_ia32",
  "ia32-sigframe": "sigframe_ia32",
};

export function isIa32Format(f: FrameFormat): boolean {
  return f.startsWith("ia32-");
}

/**
 * Which ia32 format the bytes look like: magic1 at 112 + 464 is an FPU area, at 276 + 576 an
 * rt_sigframe_ia32 with the kernel's placement, at 740 + 576 a sigframe_ia32; else an
 * rt_sigframe_ia32 when it is that long, else an FPU area.
 */
export function detectIa32FrameFormat(bytes: Uint8Array): FrameFormat {
  const magicAt = (off: number) =>
    bytes.length >= off + 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(off, true) === FP_XSTATE_MAGIC1;
  if (magicAt(IA32_MAGIC1_OFFSET)) return "ia32-fpstate";
  if (magicAt(KERNEL_IA32_RT_FPSTATE_OFFSET + IA32_MAGIC1_OFFSET)) return "ia32-frame";
  if (magicAt(KERNEL_IA32_FPSTATE_OFFSET + IA32_MAGIC1_OFFSET)) return "ia32-sigframe";
  return bytes.length >= RT_SIGFRAME_IA32_SIZE && bytes.length !== FSAVE_SIZE + FXSAVE_ONLY_SIZE
    ? "ia32-frame"
    : "ia32-fpstate";
}

/** The most of a frame file that is read. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** An FXSAVE-only FPU area is exactly this long. */
const FXSAVE_ONLY_SIZE = 512;

/**
 * The format the bytes show evidence of (see `detect.ts`); what is not a frame is an
 * InvalidDataError naming what it is, or why it is not one.
 */
export function detectFrameFormat(bytes: Uint8Array): FrameFormat {
  return detectEvidence(bytes);
}

export interface FrameInputOptions {
  /** Address of the first byte of the input. */
  base?: bigint;
  /** The CPU whose offsets locate the extended components. */
  layout?: XsaveLayout;
  /**
   * `false`: the input ends where the task's memory ends (`--readable-bytes`): an FPU area cut
   * before its magic2 or components is decoded as far as it goes instead of refused.
   */
  strict?: boolean;
}

export interface DecodedFrameInput {
  format: FrameFormat;
  /** The decoded frame (formats `frame` and `ucontext`). */
  image?: SigframeImage;
  /** The FPU area, when the input holds it. */
  fpstate?: Fpstate;
  /** Where the FPU area starts in the input. */
  fpstateOffset?: number;
  /** The FPU area bytes (from the fpstate on to the end of the input); null when not in the input. */
  fpstateBytes: Uint8Array | null;
  /** Where the FPU area sits in memory, when known. */
  fpstateAddress?: bigint;
  /**
   * ia32 formats: the decoded area and frame. `fpstate`/`fpstateOffset` are then the FXSAVE/XSAVE
   * image at FSAVE header + 112, while `fpstateBytes` and `fpstateAddress` start at the FSAVE
   * header (what the sigcontext's fpstate points at, and what the ia32 model reads).
   */
  ia32?: { fpstate?: Ia32Fpstate; fpstateOffset?: number; image?: Ia32SigframeImage };
}

export function decodeFrameInput(
  bytes: Uint8Array,
  format: FrameFormat,
  opts: FrameInputOptions = {},
): DecodedFrameInput {
  if (isIa32Format(format)) return decodeIa32Input(bytes, format, opts);
  if (format === "fpstate") {
    const fp = decodeFpstate(bytes, fpOptions(opts));
    const out: DecodedFrameInput = { format, fpstate: fp, fpstateOffset: 0, fpstateBytes: bytes };
    if (opts.base !== undefined) out.fpstateAddress = opts.base;
    return out;
  }
  const dopts: Parameters<typeof decodeSigframeImage>[1] = { start: format === "frame" ? "pretcode" : "uc" };
  if (opts.base !== undefined) dopts.base = opts.base;
  if (opts.layout) dopts.layout = opts.layout;
  if (opts.strict !== undefined) dopts.strict = opts.strict;
  const img = decodeSigframeImage(bytes, dopts);
  const out: DecodedFrameInput = { format, image: img, fpstateBytes: null };
  if (img.fpstate && img.fpstateOffset !== undefined) {
    out.fpstate = img.fpstate;
    out.fpstateOffset = img.fpstateOffset;
    out.fpstateBytes = bytes.subarray(img.fpstateOffset);
    out.fpstateAddress = img.frame.mcontext.fpstate;
  }
  return out;
}

/** The FPU-area decoder's options from the input's: the layout, and whether a cut area is refused. */
function fpOptions(opts: FrameInputOptions): { layout?: XsaveLayout; strict?: boolean } {
  const o: { layout?: XsaveLayout; strict?: boolean } = {};
  if (opts.layout) o.layout = opts.layout;
  if (opts.strict !== undefined) o.strict = opts.strict;
  return o;
}

function decodeIa32Input(bytes: Uint8Array, format: FrameFormat, opts: FrameInputOptions): DecodedFrameInput {
  const fpOpts = fpOptions(opts);
  if (format === "ia32-fpstate") {
    const fp = decodeIa32Fpstate(bytes, fpOpts);
    const out: DecodedFrameInput = { format, fpstateBytes: bytes, ia32: { fpstate: fp, fpstateOffset: 0 } };
    if (fp.fx) {
      out.fpstate = fp.fx;
      out.fpstateOffset = FSAVE_SIZE;
    }
    if (opts.base !== undefined) out.fpstateAddress = opts.base;
    return out;
  }
  const dopts: Parameters<typeof decodeIa32SigframeImage>[1] = {
    kind: format === "ia32-frame" ? "rt" : "sigframe",
  };
  if (opts.base !== undefined) dopts.base = opts.base;
  if (opts.layout) dopts.layout = opts.layout;
  if (opts.strict !== undefined) dopts.strict = opts.strict;
  const img = decodeIa32SigframeImage(bytes, dopts);
  const out: DecodedFrameInput = { format, fpstateBytes: null, ia32: { image: img } };
  if (img.fpstate && img.fpstateOffset !== undefined) {
    out.ia32!.fpstate = img.fpstate;
    out.ia32!.fpstateOffset = img.fpstateOffset;
    out.fpstateBytes = bytes.subarray(img.fpstateOffset);
    out.fpstateAddress = img.frame.mcontext.fpstate;
    if (img.fpstate.fx) {
      out.fpstate = img.fpstate.fx;
      out.fpstateOffset = img.fpstateOffset + FSAVE_SIZE;
    }
  }
  return out;
}

/** How a frame file is given: one format flag, or none (detected from the bytes). */
export interface FrameFlags {
  fpstateOnly?: boolean;
  frame?: boolean;
  ucontext?: boolean;
  /** A 32-bit task's frame or FPU area. */
  ia32?: boolean;
  /** A 32-bit task's non-rt struct sigframe_ia32. */
  ia32Sigframe?: boolean;
  /** `--as KIND`: the format by name (one of FRAME_FORMATS). */
  as?: string;
}

/** Every format a frame file can be read as, by the name `--as` takes. */
export const FRAME_FORMATS: readonly FrameFormat[] = [
  "frame",
  "ucontext",
  "fpstate",
  "ia32-frame",
  "ia32-fpstate",
  "ia32-sigframe",
];

/** A frame file decoded: what it holds, its name and bytes, and whether the format was guessed. */
export interface FrameInput extends DecodedFrameInput {
  name: string;
  bytes: Uint8Array;
  /** The format was detected from the bytes (no format flag). */
  detected: boolean;
}

/** The one format the flags ask for, or a guess from the bytes. */
export function chooseFrameFormat(
  flags: FrameFlags,
  bytes: Uint8Array,
): { format: FrameFormat; detected: boolean } {
  if (flags.as !== undefined) {
    const kind = flags.as as FrameFormat;
    if (!FRAME_FORMATS.includes(kind))
      throw new UsageError(`expected one of ${FRAME_FORMATS.join(", ")}, got ${JSON.stringify(flags.as)}`, {
        input: "--as",
      });
    if (flags.fpstateOnly || flags.frame || flags.ucontext || flags.ia32 || flags.ia32Sigframe)
      throw new UsageError("--as names the format: drop --fpstate-only, --frame, --ucontext, --ia32", {
        input: "--as",
      });
    return { format: kind, detected: false };
  }
  const chosen = (["fpstateOnly", "frame", "ucontext"] as const).filter((k) => flags[k]);
  if (flags.ia32Sigframe) {
    if (chosen.length)
      throw new UsageError(
        "--ia32-sigframe names the whole format: drop --fpstate-only, --frame, --ucontext",
        {
          input: "--ia32-sigframe",
        },
      );
    return { format: "ia32-sigframe", detected: false };
  }
  if (flags.ia32) {
    if (chosen.length > 1 || chosen[0] === "ucontext")
      throw new UsageError("with --ia32 choose at most one of --fpstate-only, --frame", { input: "--ia32" });
    if (chosen[0] === "fpstateOnly") return { format: "ia32-fpstate", detected: false };
    if (chosen[0] === "frame") return { format: "ia32-frame", detected: false };
    return { format: detectIa32FrameFormat(bytes), detected: true };
  }
  if (chosen.length > 1)
    throw new UsageError("choose one of --fpstate-only, --frame, --ucontext", {
      input: chosen.map((k) => (k === "fpstateOnly" ? "--fpstate-only" : `--${k}`)).join(" "),
    });
  if (chosen[0] === "fpstateOnly") return { format: "fpstate", detected: false };
  if (chosen[0] === "frame") return { format: "frame", detected: false };
  if (chosen[0] === "ucontext") return { format: "ucontext", detected: false };
  return { format: detectFrameFormat(bytes), detected: true };
}

/** Decodes a frame file in the format the flags choose; errors name the file. */
export function frameInput(
  file: { name: string; bytes: Uint8Array },
  flags: FrameFlags,
  opts: FrameInputOptions,
): FrameInput {
  try {
    const { format, detected } = chooseFrameFormat(flags, file.bytes);
    return { ...decodeFrameInput(file.bytes, format, opts), name: file.name, bytes: file.bytes, detected };
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: file.name });
    throw e;
  }
}

export interface FrameCheckOptions {
  /** The CPU the frame is read against; without it a note says what is not decoded. */
  layout?: XsaveLayout;
  /** The reading CPU's MXCSR_MASK (measured or estimated); without it the frame's own field. */
  mxcsrMask?: MxcsrMaskInput;
}

/**
 * The checks for a frame read as `cpu` (layout `task`): its offsets, and its MXCSR_MASK measured
 * or estimated from CPUID as `predict` takes it, never the frame's own mxcsr_mask field.
 */
export function frameCheckFor(cpu: Profile, task: XsaveLayout): FrameCheckOptions {
  return { layout: task, mxcsrMask: mxcsrMaskOf(cpu) };
}

/** What `inspect` finds: the frame's (or FPU area's) findings, and a note when no CPU was given. */
export function frameInputFindings(input: DecodedFrameInput, opts: FrameCheckOptions = {}): Finding[] {
  const co: Parameters<typeof checkFpstate>[1] = {};
  if (opts.layout) co.layout = opts.layout;
  if (opts.mxcsrMask !== undefined) co.mxcsrMask = opts.mxcsrMask;
  let findings: Finding[];
  if (input.ia32?.image) findings = checkIa32Frame(input.ia32.image, co);
  else if (input.ia32?.fpstate) findings = checkIa32Fpstate(input.ia32.fpstate, co);
  else if (input.image) findings = checkFrame(input.image, co);
  else {
    if (input.fpstateAddress !== undefined) co.address = input.fpstateAddress;
    findings = checkFpstate(input.fpstate!, co);
  }
  if (!opts.layout && input.fpstate?.header) {
    findings.push({
      code: "no-cpu",
      severity: "info",
      path: "fpstate",
      message: "without --cpu only YMM (at 576) is decoded: other components sit at CPU-specific offsets",
    });
  }
  return findings;
}

/**
 * `predict`'s default for the bytes mapped from the FPU area on: the larger of the input and the
 * task's user_size + 4, bytes past the input read as zero.
 */
export function defaultReadableBytes(
  fpstateBytes: Uint8Array | null,
  task: XsaveLayout,
  ia32 = false,
): number {
  return fpstateBytes ? Math.max(fpstateBytes.length, (ia32 ? FSAVE_SIZE : 0) + task.userSize + 4) : 0;
}

/** The note a prediction carries when the default took bytes past the input as mapped. */
export function readableBytesNote(inputBytes: number, readableBytes: number): string | undefined {
  return readableBytes > inputBytes
    ? `bytes past the ${inputBytes}-byte input are taken as mapped and zero up to ${readableBytes} (use --readable-bytes to model an unmapped page)`
    : undefined;
}

export interface FramePredictOptions {
  /** Where the FPU area sits (alignment); default: where the input says it is. */
  address?: bigint;
  /** Bytes mapped from the FPU area on; default `defaultReadableBytes`, with a note when it reaches past the input. */
  readableBytes?: number;
}

/**
 * What rt_sigreturn does with the input's FPU area on `cpu` (a task with layout `task`) under each
 * of `policies`, with the CPU's MXCSR_MASK (measured where the profile has it, else from CPUID).
 */
export function predictFrameInput(
  input: DecodedFrameInput,
  cpu: Profile,
  task: XsaveLayout,
  policies: readonly Policy[],
  opts: FramePredictOptions = {},
): Prediction[] {
  const fpBytes = input.fpstateBytes;
  const ia32 = isIa32Format(input.format);
  const readableBytes = opts.readableBytes ?? defaultReadableBytes(fpBytes, task, ia32);
  const note =
    fpBytes && opts.readableBytes === undefined
      ? readableBytesNote(fpBytes.length, readableBytes)
      : undefined;
  const address = opts.address ?? input.fpstateAddress;
  const mxcsrMask = mxcsrMaskOf(cpu).value;
  return policies.map((policy) => {
    const pin: PredictInput = { fpstate: fpBytes, task, policy, readableBytes };
    if (address !== undefined) pin.address = address;
    pin.mxcsrMask = mxcsrMask;
    pin.compactedForm = cpu.cpuid.has("XSAVEC");
    if (ia32) pin.ia32 = true;
    const p = predict(pin);
    if (note) p.notes.push(note);
    return p;
  });
}
