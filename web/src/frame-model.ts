/**
 * The frame inspector without the DOM: decode a frame or an FPU area with the core codec, list
 * every field with its byte range and value (for the annotated table and the hexdump), the
 * codec's findings, and what sigreturn does with it under each kernel policy.
 */
import { isSigframeError, UsageError } from "../../src/core/errors.ts";
import { hex, leToBigint, parseU64 } from "../../src/core/hex.ts";
import type { KernelVersion } from "../../src/core/kernel.ts";
import {
  checkFpstate,
  checkFrame,
  componentFields,
  decodeFpstate,
  decodeSigframeImage,
  FIELD_HELP,
  type FieldTable,
  type Finding as SigframeFinding,
  type Fpstate,
  HEADER_FIELDS,
  LEGACY_FIELDS,
  RT_SIGFRAME_INFO_OFFSET,
  SIGCONTEXT_FIELDS,
  SIGINFO_FIELDS,
  SW_BYTES_FIELDS,
  type SigframeImage,
  UC_MCONTEXT_OFFSET,
  UC_SIGMASK_OFFSET,
  UCONTEXT_HEAD_FIELDS,
  ucOffset,
} from "../../src/core/sigframe/index.ts";
import { type Policy, type Prediction, policiesForKernel, predict } from "../../src/core/sigreturn/index.ts";
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET, XSAVE_HDR_OFFSET } from "../../src/core/xsave/components.ts";
import type { XsaveLayout } from "../../src/core/xsave/layout.ts";
import { POLICY_NAMES } from "./model.ts";

/** How to read the input: the whole rt_sigframe, an SROP payload from uc_flags, or the FPU area only. */
export type InputKind = "auto" | "frame" | "uc" | "fpstate";

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
  kind: Exclude<InputKind, "auto">;
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
  /** The CPU the frame is read against (offsets; the task of the prediction). */
  layout?: XsaveLayout;
  mxcsrMask?: number;
  kernel?: KernelVersion;
}

/** Largest input the inspector takes (a frame with AMX state is about 11.5 KiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The input kind `auto` settles on: an FPU area when magic1 sits where an FPU area has it. */
export function detectKind(bytes: Uint8Array): Exclude<InputKind, "auto"> {
  if (bytes.length >= SW_BYTES_OFFSET + 4) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(SW_BYTES_OFFSET, true) === FP_XSTATE_MAGIC1) return "fpstate";
  }
  return "frame";
}

function baseOption(text: string | undefined): bigint | undefined {
  const t = text?.trim() ?? "";
  if (t === "") return undefined;
  try {
    return parseU64(t, "--base");
  } catch (e) {
    throw new UsageError((e as Error).message, { input: "--base" });
  }
}

function valueAt(bytes: Uint8Array, offset: number, size: number): string {
  if (offset < 0 || offset + size > bytes.length) return "(beyond the input)";
  return hex(leToBigint(bytes.subarray(offset, offset + size)));
}

function tableRows(
  out: FieldRow[],
  bytes: Uint8Array,
  base: number,
  table: FieldTable,
  prefix: string,
  group: FieldGroup,
  present?: (name: string) => boolean,
): void {
  for (const [name, off, size] of table) {
    if (present && !present(name)) continue;
    if (base + off + size > bytes.length) continue;
    const row: FieldRow = { path: `${prefix}/${name}`, group, offset: base + off, size, value: valueAt(bytes, base + off, size) };
    const help = FIELD_HELP[name];
    if (help) row.help = help;
    out.push(row);
  }
}

function fpstateRows(out: FieldRow[], bytes: Uint8Array, at: number, fp: Fpstate): void {
  tableRows(out, bytes, at, LEGACY_FIELDS, "fpstate/legacy", "legacy");
  tableRows(out, bytes, at + SW_BYTES_OFFSET, SW_BYTES_FIELDS, "fpstate/sw_bytes", "sw_bytes");
  if (fp.header) tableRows(out, bytes, at + XSAVE_HDR_OFFSET, HEADER_FIELDS, "fpstate/header", "header");
  for (const c of fp.components) {
    tableRows(out, bytes, at + c.offset, componentFields(c.bit, c.size), `fpstate/${c.name}`, "component");
  }
  if (fp.magic2 !== undefined) {
    out.push({
      path: "fpstate/magic2",
      group: "magic2",
      offset: at + fp.sw.xstateSize,
      size: 4,
      value: hex(fp.magic2),
      help: FIELD_HELP.magic2 ?? "",
    });
  }
  for (const r of fp.extra) {
    out.push({
      path: "fpstate/extra",
      group: "extra",
      offset: at + r.offset,
      size: r.bytes.length,
      value: `${r.bytes.length} non-zero byte(s) no field covers`,
    });
  }
}

function frameRows(out: FieldRow[], bytes: Uint8Array, img: SigframeImage): void {
  const f = img.frame;
  const uc = ucOffset(f.start);
  if (f.start === "pretcode") {
    out.push({ path: "frame/pretcode", group: "frame", offset: 0, size: 8, value: valueAt(bytes, 0, 8), help: FIELD_HELP.pretcode ?? "" });
  }
  tableRows(out, bytes, uc, UCONTEXT_HEAD_FIELDS, "frame/uc", "frame");
  const mc = f.mcontext as Record<string, bigint>;
  tableRows(out, bytes, uc + UC_MCONTEXT_OFFSET, SIGCONTEXT_FIELDS, "frame/uc/uc_mcontext", "frame", (n) => mc[n] !== undefined);
  if (f.ucSigmask !== undefined) {
    out.push({
      path: "frame/uc/uc_sigmask",
      group: "frame",
      offset: uc + UC_SIGMASK_OFFSET,
      size: 8,
      value: hex(f.ucSigmask),
      help: FIELD_HELP.uc_sigmask ?? "",
    });
  }
  if (f.info) tableRows(out, bytes, RT_SIGFRAME_INFO_OFFSET, SIGINFO_FIELDS, "frame/info", "frame");
  if (img.fpstate && img.fpstateOffset !== undefined) fpstateRows(out, bytes, img.fpstateOffset, img.fpstate);
  for (const r of img.extra) {
    out.push({
      path: "frame/extra",
      group: "extra",
      offset: r.offset,
      size: r.bytes.length,
      value: `${r.bytes.length} non-zero byte(s) no field covers`,
    });
  }
}

function fpstateSummary(fp: Fpstate, at: number, address: bigint | undefined): string[] {
  const lines: string[] = [];
  const where = address !== undefined ? ` at ${hex(address)}` : "";
  if (fp.sw.magic1 !== FP_XSTATE_MAGIC1) {
    lines.push(`FPU area at offset ${at}${where}: legacy FXSAVE-only (magic1 ${hex(fp.sw.magic1)}), ${fp.size} bytes`);
    return lines;
  }
  lines.push(
    `FPU area at offset ${at}${where}: XSAVE, xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}`,
  );
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
  try {
    return inspectInner(bytes, opts);
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: name });
    throw e;
  }
}

function inspectInner(bytes: Uint8Array, opts: InspectOptions): InspectResult {
  const base = baseOption(opts.base);
  if (bytes.length > MAX_FRAME_BYTES) {
    throw new UsageError(`file is ${bytes.length} bytes; the limit for this input is ${MAX_FRAME_BYTES}`);
  }
  const kind = !opts.kind || opts.kind === "auto" ? detectKind(bytes) : opts.kind;
  const fields: FieldRow[] = [];
  const summary: string[] = [];
  let findings: SigframeFinding[];
  let fpBytes: Uint8Array | null | undefined;
  let address: bigint | undefined;
  let fpstateOffset: number | undefined;
  let noPrediction: string | undefined;
  if (kind === "fpstate") {
    const fp = decodeFpstate(bytes, opts.layout ? { layout: opts.layout } : {});
    fpstateRows(fields, bytes, 0, fp);
    summary.push(...fpstateSummary(fp, 0, base));
    const co: Parameters<typeof checkFpstate>[1] = {};
    if (opts.layout) co.layout = opts.layout;
    if (base !== undefined) co.address = base;
    if (opts.mxcsrMask !== undefined) co.mxcsrMask = opts.mxcsrMask;
    findings = checkFpstate(fp, co);
    fpBytes = bytes;
    address = base;
    fpstateOffset = 0;
  } else {
    const dopts: Parameters<typeof decodeSigframeImage>[1] = { start: kind === "uc" ? "uc" : "pretcode" };
    if (base !== undefined) dopts.base = base;
    if (opts.layout) dopts.layout = opts.layout;
    const img = decodeSigframeImage(bytes, dopts);
    frameRows(fields, bytes, img);
    const mc = img.frame.mcontext;
    summary.push(
      `${kind === "uc" ? "SROP payload from uc_flags" : "rt_sigframe from pretcode"}, ${bytes.length} bytes; rip ${hex(mc.rip)}, rsp ${hex(mc.rsp)}, fpstate ${hex(mc.fpstate)}`,
    );
    if (img.baseSource !== "none") {
      const how = { given: "given", "inferred-kernel": "inferred: kernel placement", "inferred-magic": "inferred: magic1 found" }[
        img.baseSource
      ];
      summary.push(`input starts at ${hex(img.base)} (${how})`);
    }
    const co: Parameters<typeof checkFrame>[1] = {};
    if (opts.layout) co.layout = opts.layout;
    if (opts.mxcsrMask !== undefined) co.mxcsrMask = opts.mxcsrMask;
    findings = checkFrame(img, co);
    if (mc.fpstate === 0n) {
      fpBytes = null;
    } else if (img.fpstate && img.fpstateOffset !== undefined) {
      summary.push(...fpstateSummary(img.fpstate, img.fpstateOffset, mc.fpstate));
      fpBytes = bytes.subarray(img.fpstateOffset);
      address = mc.fpstate;
      fpstateOffset = img.fpstateOffset;
    } else {
      noPrediction = "the FPU area the fpstate pointer names is not in the input (give the input's start address)";
    }
  }
  fields.sort((a, b) => a.offset - b.offset || a.size - b.size);
  const result: InspectResult = { kind, size: bytes.length, summary, fields, findings };
  if (fpstateOffset !== undefined) result.fpstateOffset = fpstateOffset;
  const picked = opts.kernel ? policiesForKernel(opts.kernel) : undefined;
  if (picked?.note) result.kernelNote = picked.note;
  if (!opts.layout) {
    result.noPrediction = "choose the receiving CPU to predict what sigreturn does";
  } else if (fpBytes === undefined) {
    result.noPrediction = noPrediction ?? "nothing to predict";
  } else {
    result.predictions = POLICY_NAMES.map((policy) => {
      const input: Parameters<typeof predict>[0] = { fpstate: fpBytes ?? null, task: opts.layout!, policy };
      if (address !== undefined) input.address = address;
      if (opts.mxcsrMask !== undefined) input.mxcsrMask = opts.mxcsrMask;
      return { policy, picked: picked?.policies.includes(policy) ?? false, prediction: predict(input) };
    });
  }
  return result;
}
