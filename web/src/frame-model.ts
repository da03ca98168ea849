/**
 * The frame inspector without the DOM: decode a frame or an FPU area with the core codec, list
 * every field with its byte range and value (the core's annotation spans, for the table and the
 * hexdump), the codec's findings, and what sigreturn does with it under each kernel policy, with
 * the defaults of `sigframe predict`.
 */
import { isSigframeError } from "../../src/core/errors.ts";
import { hex, leToBigint } from "../../src/core/hex.ts";
import { checkInputSize } from "../../src/core/input.ts";
import type { KernelVersion } from "../../src/core/kernel.ts";
import { fieldValue, u64Option } from "../../src/core/options.ts";
import type { Profile } from "../../src/core/profile.ts";
import {
  FIELD_HELP,
  type FieldSpan,
  type Fpstate,
  fpstateSpans,
  frameSpans,
  type Finding as SigframeFinding,
} from "../../src/core/sigframe/index.ts";
import {
  decodeFrameInput,
  detectFrameFormat,
  FRAME_FORMAT_TEXT,
  type FrameFormat,
  frameCheckFor,
  frameInputFindings,
  MAX_FRAME_BYTES,
  predictFrameInput,
} from "../../src/core/sigframe/input.ts";
import { POLICIES, type Policy, type Prediction, policiesForKernel } from "../../src/core/sigreturn/index.ts";
import { FP_XSTATE_MAGIC1 } from "../../src/core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../src/core/xsave/layout.ts";

export type { FrameFormat };
export type InputKind = "auto" | FrameFormat;

type FieldGroup = "frame" | "legacy" | "sw_bytes" | "header" | "component" | "magic2" | "extra";

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

interface InspectOptions {
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
  const base = u64Option(fieldValue(opts.base), "--base");
  checkInputSize(bytes.length, MAX_FRAME_BYTES, name);
  try {
    return inspectInner(bytes, opts, base);
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: name });
    throw e;
  }
}

function inspectInner(bytes: Uint8Array, opts: InspectOptions, base: bigint | undefined): InspectResult {
  const detected = !opts.kind || opts.kind === "auto";
  const format = detected ? detectFrameFormat(bytes) : (opts.kind as FrameFormat);
  const task: XsaveLayout | undefined = opts.cpu
    ? computeLayout(opts.cpu, opts.amx ? { amx: true } : {})
    : undefined;
  const input = decodeFrameInput(bytes, format, { base, layout: task });
  // As `sigframe inspect`: the reading CPU's MXCSR_MASK, measured or estimated from its CPUID.
  const findings = frameInputFindings(input, opts.cpu && task ? frameCheckFor(opts.cpu, task) : {});
  const fields: FieldRow[] = [];
  const summary: string[] = [
    `${FRAME_FORMAT_TEXT[format]}${detected ? " (detected)" : ""}, ${bytes.length} bytes`,
  ];
  let noPrediction: string | undefined;
  const img = input.image;
  if (!img) {
    const fp = input.fpstate!;
    fields.push(...rows(bytes, fpstateSpans(fp)), ...extraRows("fpstate", 0, fp.extra));
    summary.push(...fpstateSummary(fp, 0, base));
  } else {
    fields.push(...rows(bytes, frameSpans(img)), ...extraRows("frame", 0, img.extra));
    if (input.fpstate && input.fpstateOffset !== undefined) {
      fields.push(...extraRows("fpstate", input.fpstateOffset, input.fpstate.extra));
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
    if (input.fpstate && input.fpstateOffset !== undefined) {
      summary.push(...fpstateSummary(input.fpstate, input.fpstateOffset, mc.fpstate));
    } else if (mc.fpstate !== 0n) {
      noPrediction = `the frame's fpstate ${hex(mc.fpstate)} is not inside the input; give --base (address of the first byte) or read the input as an FPU area`;
    } else {
      summary.push("fpstate NULL");
    }
  }
  fields.sort((a, b) => a.offset - b.offset || a.size - b.size);
  const result: InspectResult = { format, detected, size: bytes.length, summary, fields, findings };
  if (input.fpstateOffset !== undefined) result.fpstateOffset = input.fpstateOffset;
  const picked = opts.kernel ? policiesForKernel(opts.kernel) : undefined;
  if (picked?.note) result.kernelNote = picked.note;
  if (!task || !opts.cpu) {
    result.noPrediction = "choose the receiving CPU to predict what sigreturn does";
  } else if (noPrediction) {
    result.noPrediction = noPrediction;
  } else {
    // As `sigframe predict`: bytes past the input up to user_size + 4 are taken as mapped and zero.
    result.predictions = predictFrameInput(input, opts.cpu, task, POLICIES).map((prediction) => ({
      policy: prediction.policy,
      picked: picked?.policies.includes(prediction.policy) ?? false,
      prediction,
    }));
  }
  return result;
}
