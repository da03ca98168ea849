/**
 * Is this a signal frame, and which kind? Detection asks for evidence, not a length: magic1 where
 * an FPU area, a kernel-placed frame or an SROP payload has it, or a ucontext whose fields are what
 * sigreturn can take (uc_flags within the kernel's flags, uc_link 0, the 64-bit user code segment,
 * canonical user addresses, an fpstate pointer that is NULL or 16-byte aligned, EFLAGS without
 * reserved bits). What is recognisably something else (an ELF core, a CRIU image, an archive,
 * text) is named, with the command that reads it. Anything else is not a frame: the caller names
 * the format (`--frame`, `--ucontext`, `--fpstate-only`) to decode it regardless.
 */
import { looksLikeCriuImage } from "../criu/image.ts";
import { InvalidDataError } from "../errors.ts";
import { hex } from "../hex.ts";
import { detectFormat, HEAD_BYTES } from "../profiles/formats.ts";
import { FP_XSTATE_MAGIC1, FXSAVE_SIZE, SW_BYTES_OFFSET } from "../xsave/components.ts";
import {
  KERNEL_FPSTATE_OFFSET,
  RT_SIGFRAME_UC_OFFSET,
  SIGCONTEXT_FIELDS,
  UC_MCONTEXT_OFFSET,
  UCONTEXT_HEAD_FIELDS,
  UCONTEXT_SIZE,
} from "./fields.ts";

export type DetectedFormat = "fpstate" | "frame" | "ucontext";

/** pwntools' SigreturnFrame: uc_flags through reserved1[1]. */
export const PWNTOOLS_UCONTEXT_SIZE = 248;
/** Where CRIU's restorer and pwntools (with an FPU area) put the fpstate. */
const CRIU_FPSTATE_OFFSET = 448;
const PWNTOOLS_FPSTATE_OFFSET = 320;
/** Smallest input that holds a ucontext up to uc_mcontext.fpstate. */
const MIN_UCONTEXT_BYTES = UC_MCONTEXT_OFFSET + 192;

/** User addresses are below 2^56 even with 5-level paging; a pointer at or above is non-canonical for user space. */
export const USER_ADDRESS_LIMIT = 1n << 56n;
/** uc_flags the kernel writes: UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS. */
export const KNOWN_UC_FLAGS = 0x7n;
/** 64-bit and 32-bit user code segments (__USER_CS, __USER32_CS). */
export const USER_CODE_SEGMENTS: readonly number[] = [0x33, 0x23];

function field(table: readonly (readonly [string, number, number])[], name: string): number {
  return table.find(([n]) => n === name)![1];
}

/**
 * Why the bytes at `uc` are not a ucontext sigreturn could take; empty when they could be one.
 * Also used for the findings of an explicitly named frame.
 */
export function ucontextProblems(bytes: Uint8Array, uc: number): string[] {
  if (uc < 0 || uc + MIN_UCONTEXT_BYTES > bytes.length)
    return [`${bytes.length} bytes are too short for a ucontext at offset ${uc}`];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (o: number) => dv.getBigUint64(o, true);
  const mc = uc + UC_MCONTEXT_OFFSET;
  const sc = (n: string) => mc + field(SIGCONTEXT_FIELDS, n);
  const out: string[] = [];
  const flags = u64(uc + field(UCONTEXT_HEAD_FIELDS, "uc_flags"));
  if (flags & ~KNOWN_UC_FLAGS) out.push(`uc_flags ${hex(flags)} has bits the kernel never sets`);
  const link = u64(uc + field(UCONTEXT_HEAD_FIELDS, "uc_link"));
  if (link !== 0n) out.push(`uc_link is ${hex(link)}, not 0`);
  const cs = dv.getUint16(sc("cs"), true);
  if (!USER_CODE_SEGMENTS.includes(cs)) out.push(`cs ${hex(cs)} is not a user code segment (0x33)`);
  for (const n of ["rip", "rsp"]) {
    const v = u64(sc(n));
    if (v >= USER_ADDRESS_LIMIT) out.push(`${n} ${hex(v)} is not a user address`);
  }
  const fp = u64(sc("fpstate"));
  if (fp !== 0n && (fp >= USER_ADDRESS_LIMIT || fp % 16n !== 0n))
    out.push(`uc_mcontext.fpstate ${hex(fp)} is neither NULL nor a 16-byte aligned user address`);
  const eflags = u64(sc("eflags"));
  if (eflags >> 22n !== 0n) out.push(`eflags ${hex(eflags)} sets bits above 21 (none exist)`);
  return out;
}

function magic1At(bytes: Uint8Array, fpstateOffset: number): boolean {
  const o = fpstateOffset + SW_BYTES_OFFSET;
  return (
    o + 4 <= bytes.length &&
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(o, true) === FP_XSTATE_MAGIC1
  );
}

/** What recognisably else the bytes are, with what reads them; undefined when nothing is recognised. */
export function notAFrame(bytes: Uint8Array): string | undefined {
  const b = bytes;
  // The binary formats of the one format table (profiles/formats.ts), then CRIU's other images.
  const format = detectFormat(b.subarray(0, HEAD_BYTES));
  if (format?.id === "elf-core" || format?.id === "elf")
    return "an ELF file (a core?), not a signal frame: 'sigframe scan FILE' finds the frames on a core's stacks (and 'sigframe scan --save-frames DIR' writes each as a file)";
  if (format?.id === "criu-cpuinfo" || looksLikeCriuImage(b))
    return "a CRIU image, not a signal frame: 'sigframe scan DIR' finds the frames in the checkpoint directory, 'sigframe criu show FILE' decodes the image";
  if (format?.kind === "compressed")
    return `${format.id}-compressed data, not a signal frame: for a compressed core or a checkpoint archive use 'sigframe scan FILE'`;
  if (format?.id === "tar")
    return "a tar archive, not a signal frame: for a checkpoint archive use 'sigframe scan FILE' ('sigframe criu show FILE' lists it)";
  const head = b.subarray(0, 4096);
  if (
    head.length > 0 &&
    head.every((x) => x === 0x09 || x === 0x0a || x === 0x0d || (x >= 0x20 && x !== 0x7f))
  )
    return "text, not a signal frame (every frame has zero bytes); a CPU profile ('cpuid -r', JSON) is read by 'sigframe layout FILE'";
  return undefined;
}

/**
 * The format the bytes show evidence of: magic1 at fpstate+464 for an FPU area, at the kernel's or
 * CRIU's fpstate offset for a whole frame, at pwntools' for an SROP payload; else a frame or
 * ucontext whose fields sigreturn could take; else a 512-byte FXSAVE area. Throws InvalidDataError
 * saying what the bytes are, or why they are not a frame.
 */
export function detectFrameFormat(bytes: Uint8Array): DetectedFormat {
  if (bytes.length === 0) throw new InvalidDataError("empty input: expected a signal frame");
  const other = notAFrame(bytes);
  if (other) throw new InvalidDataError(other);
  if (magic1At(bytes, 0)) return "fpstate";
  if (magic1At(bytes, KERNEL_FPSTATE_OFFSET) || magic1At(bytes, CRIU_FPSTATE_OFFSET))
    if (ucontextProblems(bytes, RT_SIGFRAME_UC_OFFSET).length === 0) return "frame";
  if (magic1At(bytes, PWNTOOLS_FPSTATE_OFFSET) && ucontextProblems(bytes, 0).length === 0) return "ucontext";
  const asUc = ucontextProblems(bytes, 0);
  const asFrame = ucontextProblems(bytes, RT_SIGFRAME_UC_OFFSET);
  const payloadSized = bytes.length === PWNTOOLS_UCONTEXT_SIZE || bytes.length === UCONTEXT_SIZE;
  if (payloadSized && asUc.length === 0) return "ucontext";
  if (asFrame.length === 0) return "frame";
  if (asUc.length === 0) return "ucontext";
  if (bytes.length === FXSAVE_SIZE) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // An FXSAVE image: MXCSR and MXCSR_MASK within the architectural 18 bits.
    if (dv.getUint32(24, true) >>> 18 === 0 && dv.getUint32(28, true) >>> 18 === 0) return "fpstate";
  }
  const why = payloadSized ? asUc : asFrame;
  throw new InvalidDataError(
    `not a signal frame: no magic1 where an FPU area or a frame has it, and as an rt_sigframe ${why.slice(0, 3).join("; ")}; to decode it anyway name the format (--frame, --ucontext or --fpstate-only)`,
  );
}
