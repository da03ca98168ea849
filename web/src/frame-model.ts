/**
 * The frame inspector without the DOM: decode a frame or an FPU area with the core codec, list
 * every field with its byte range and value (the core's annotation spans, for the table and the
 * hexdump), the codec's findings, and what sigreturn does with it under each kernel policy, with
 * the defaults of `sigframe predict`.
 */
import { InvalidDataError, isSigframeError, UsageError } from "../../src/core/errors.ts";
import { hex, leToBigint, parseU64 } from "../../src/core/hex.ts";
import type { KernelVersion } from "../../src/core/kernel.ts";
import type { Profile } from "../../src/core/profile.ts";
import {
  checkFpstate,
  checkFrame,
  decodeFpstate,
  decodeSigframeImage,
  FIELD_HELP,
  type FieldSpan,
  type Fpstate,
  fpstateSpans,
  frameSpans,
  type Finding as SigframeFinding,
} from "../../src/core/sigframe/index.ts";
import {
  POLICIES,
  type Policy,
  type PredictInput,
  type Prediction,
  policiesForKernel,
  predict,
} from "../../src/core/sigreturn/index.ts";
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET } from "../../src/core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../src/core/xsave/layout.ts";

/** How to read the input: the whole rt_sigframe, an SROP payload from uc_flags, or the FPU area only. */
export type FrameFormat = "frame" | "ucontext" | "fpstate";
export type InputKind = "auto" | FrameFormat;

export type FieldGroup = "frame" | "legacy" | "sw_bytes" | "header" | "component" | "magic2" | "extra";

export interface FieldRow {
  /** Field path as errors and findings name it, e.g. fpstate/sw_bytes/xstate_size. */
  path: string;
  group: FieldGroup;
  offset: number;
  size: number;
  /** Little-endian value, lower-case hex. */
  value: string;
  help?: string;
}

export interface PolicyPrediction {
  policy: Policy;
  /** The kernel given picks this policy (or one of two where the release is ambiguous). */
  picked: boolean;
  prediction: Prediction;
}

export interface InspectResult {
  format: FrameFormat;
  /** The format was guessed from the bytes (input kind `auto`). */
  detected: boolean;
  size: number;
  summary: string[];
  fields: FieldRow[];
  findings: SigframeFinding[];
  /** Offset of the FPU area in the input, when located. */
  fpstateOffset?: number;
  /** Under each policy; absent without a CPU, or when the frame's FPU area is not in the input. */
  predictions?: PolicyPrediction[];
  /** Why there is no prediction. */
  noPrediction?: string;
  kernelNote?: string;
}

export interface InspectOptions {
  kind?: InputKind;
  /** `--base ADDR` as typed ("" = none). */
  base?: string;
  /** The receiving CPU: offsets for decoding, and the task of the prediction. */
  cpu?: Profile;
  /** The receiving task has enabled AMX tile data. */
  amx?: boolean;
  /** Marks the policies this kernel implements. */
  kernel?: KernelVersion;
}

/** The CLI reads at most this much of a frame file. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The format `auto` settles on, by the rules of `sigframe inspect`/`predict` without a format flag. */
export function detectFormat(bytes: Uint8Array): FrameFormat {
  const magicAt = (off: number) =>
    bytes.length >= off + 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(off, true) === FP_XSTATE_MAGIC1;
  if (magicAt(SW_BYTES_OFFSET)) return "fpstate";
  if (bytes.length === 248 || bytes.length === 304) return "ucontext";
  // An FXSAVE-only image is exactly 512 bytes; anything else this long is taken as a frame.
  if (bytes.length >= 440 && bytes.length !== 512) return "frame";
  return "fpstate";
}

function addressOption(text: string | undefined, name: string): bigint | undefined {
  const t = text?.trim() ?? "";
  if (t === "") return undefined;
  try {
    return parseU64(t, name);
  } catch (e) {
    throw new UsageError((e as Error).message, { input: name });
  }
}

function groupOf(path: string): FieldGroup {
  if (path.startsWith("frame/")) return "frame";
  const part = path.split("/")[1] ?? "";
  if (part === "legacy" || part === "sw_bytes" || part === "header" || part === "magic2") return part;
  return "component";
}

function rows(bytes: Uint8Array, spans: FieldSpan[]): FieldRow[] {
  return spans
    .filter((s) => s.offset >= 0 && s.offset + s.size <= bytes.length)
    .map((s) => {
      const row: FieldRow = {
        path: s.path,
        group: groupOf(s.path),
        offset: s.offset,
        size: s.size,
        value: hex(leToBigint(bytes.subarray(s.offset, s.offset + s.size))),
      };
      const name = s.path.split("/").pop() ?? "";
      const help = FIELD_HELP[name];
      if (help) row.help = help;
      return row;
    });
}

function extraRows(prefix: string, at: number, runs: { offset: number; bytes: Uint8Array }[]): FieldRow[] {
  return runs.map((r) => ({
    path: `${prefix}/extra`,
    group: "extra" as const,
    offset: at + r.offset,
    size: r.bytes.length,
    value: `${r.bytes.length} non-zero byte(s) no field covers`,
  }));
}

function fpstateSummary(fp: Fpstate, at: number, address: bigint | undefined): string[] {
  const where = address !== undefined ? ` at ${hex(address)}` : "";
  if (fp.sw.magic1 !== FP_XSTATE_MAGIC1) {
    return [`FPU area at offset ${at}${where}: no magic1 (FXSAVE-only), ${fp.size} bytes`];
  }
  const lines = [
    `FPU area at offset ${at}${where}: xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}`,
  ];
  if (fp.header) {
    const form = (fp.header.xcompBv >> 63n) & 1n ? "compacted" : "standard";
    lines.push(`xstate_bv ${hex(fp.header.xstateBv)}, xcomp_bv ${hex(fp.header.xcompBv)} (${form} form)`);
  }
  lines.push(
    fp.magic2 === undefined
      ? `magic2: beyond the input (at ${fp.sw.xstateSize})`
      : `magic2 at ${fp.sw.xstateSize}: ${hex(fp.magic2)}`,
  );
  return lines;
}

/** Decodes `bytes` (named `name` in errors) and gathers everything the inspector shows. */
export function inspectBytes(bytes: Uint8Array, name: string, opts: InspectOptions = {}): InspectResult {
  const base = addressOption(opts.base, "--base");
  if (bytes.length > MAX_FRAME_BYTES) {
    throw new InvalidDataError(
      `file is ${bytes.length} bytes; the limit for this input is ${MAX_FRAME_BYTES}`,
      {
        input: name,
      },
    );
  }
  try {
    return inspectInner(bytes, opts, base);
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: name });
    throw e;
  }
}

const FORMAT_TEXT: Record<FrameFormat, string> = {
  fpstate: "FPU area",
  frame: "rt_sigframe",
  ucontext: "ucontext (SROP payload)",
};

function inspectInner(bytes: Uint8Array, opts: InspectOptions, base: bigint | undefined): InspectResult {
  const detected = !opts.kind || opts.kind === "auto";
  const format = detected ? detectFormat(bytes) : (opts.kind as FrameFormat);
  const task: XsaveLayout | undefined = opts.cpu
    ? computeLayout(opts.cpu, opts.amx ? { amx: true } : {})
    : undefined;
  const mxcsrMask = opts.cpu?.mxcsrMask || undefined;
  const fields: FieldRow[] = [];
  const summary: string[] = [`${FORMAT_TEXT[format]}${detected ? " (detected)" : ""}, ${bytes.length} bytes`];
  let findings: SigframeFinding[];
  let fpBytes: Uint8Array | null = null;
  let address: bigint | undefined;
  let fpstateOffset: number | undefined;
  let noPrediction: string | undefined;
  let decoded: Fpstate | undefined;
  if (format === "fpstate") {
    const fp = decodeFpstate(bytes, task ? { layout: task } : {});
    decoded = fp;
    fields.push(...rows(bytes, fpstateSpans(fp)), ...extraRows("fpstate", 0, fp.extra));
    summary.push(...fpstateSummary(fp, 0, base));
    const co: Parameters<typeof checkFpstate>[1] = {};
    if (task) co.layout = task;
    if (base !== undefined) co.address = base;
    if (mxcsrMask !== undefined) co.mxcsrMask = mxcsrMask;
    findings = checkFpstate(fp, co);
    fpBytes = bytes;
    address = base;
    fpstateOffset = 0;
  } else {
    const dopts: Parameters<typeof decodeSigframeImage>[1] = {
      start: format === "ucontext" ? "uc" : "pretcode",
    };
    if (base !== undefined) dopts.base = base;
    if (task) dopts.layout = task;
    const img = decodeSigframeImage(bytes, dopts);
    fields.push(...rows(bytes, frameSpans(img)), ...extraRows("frame", 0, img.extra));
    if (img.fpstate && img.fpstateOffset !== undefined) {
      fields.push(...extraRows("fpstate", img.fpstateOffset, img.fpstate.extra));
    }
    const mc = img.frame.mcontext;
    summary.push(`rip ${hex(mc.rip)}, rsp ${hex(mc.rsp)}, fpstate ${hex(mc.fpstate)}`);
    if (img.baseSource !== "none") {
      const how = {
        given: "given",
        "inferred-kernel": "inferred from the kernel's placement",
        "inferred-magic": "inferred from where magic1 is",
      }[img.baseSource];
      summary.push(`the input starts at ${hex(img.base)} (${how})`);
    }
    const co: Parameters<typeof checkFrame>[1] = {};
    if (task) co.layout = task;
    if (mxcsrMask !== undefined) co.mxcsrMask = mxcsrMask;
    findings = checkFrame(img, co);
    decoded = img.fpstate;
    if (img.fpstate && img.fpstateOffset !== undefined) {
      summary.push(...fpstateSummary(img.fpstate, img.fpstateOffset, mc.fpstate));
      fpBytes = bytes.subarray(img.fpstateOffset);
      address = mc.fpstate;
      fpstateOffset = img.fpstateOffset;
    } else if (mc.fpstate !== 0n) {
      noPrediction = `the frame's fpstate ${hex(mc.fpstate)} is not inside the input; give --base (address of the first byte) or read the input as an FPU area`;
    } else {
      summary.push("fpstate NULL");
    }
  }
  if (!task && decoded?.header) {
    findings.push({
      code: "no-cpu",
      severity: "info",
      path: "fpstate",
      message: "without --cpu only YMM (at 576) is decoded: other components sit at CPU-specific offsets",
    });
  }
  fields.sort((a, b) => a.offset - b.offset || a.size - b.size);
  const result: InspectResult = { format, detected, size: bytes.length, summary, fields, findings };
  if (fpstateOffset !== undefined) result.fpstateOffset = fpstateOffset;
  const picked = opts.kernel ? policiesForKernel(opts.kernel) : undefined;
  if (picked?.note) result.kernelNote = picked.note;
  if (!task || !opts.cpu) {
    result.noPrediction = "choose the receiving CPU to predict what sigreturn does";
  } else if (noPrediction) {
    result.noPrediction = noPrediction;
  } else {
    const cpu = opts.cpu;
    // As `sigframe predict`: bytes past the input up to user_size + 4 are taken as mapped and zero.
    const readableBytes = fpBytes ? Math.max(fpBytes.length, task.userSize + 4) : 0;
    result.predictions = POLICIES.map((policy) => {
      const pin: PredictInput = { fpstate: fpBytes, task, policy, readableBytes };
      if (address !== undefined) pin.address = address;
      if (mxcsrMask !== undefined) pin.mxcsrMask = mxcsrMask;
      pin.compactedForm = cpu.cpuid.has("XSAVEC");
      const p = predict(pin);
      if (fpBytes && readableBytes > fpBytes.length) {
        p.notes.push(
          `bytes past the ${fpBytes.length}-byte input are taken as mapped and zero up to ${readableBytes} (use --readable-bytes to model an unmapped page)`,
        );
      }
      return { policy, picked: picked?.policies.includes(policy) ?? false, prediction: p };
    });
  }
  return result;
}
