/**
 * `sigframe translate` as a request and a report: read the frame at the layout of the CPU that
 * wrote it, translate it for the CPU that restores it, verify, predict sigreturn there, and say
 * what the new size means for a frame that sits in memory. `translateJson` is the
 * `translate --json` document; the CLI writes `report.bytes` and renders the rest.
 */
import { isSigframeError, UsageError } from "../../errors.ts";
import { hasBit, hex } from "../../hex.ts";
import { mxcsrMaskOf } from "../../mxcsr.ts";
import { kernelOption, u64Option } from "../../options.ts";
import { displayName, type Profile } from "../../profile.ts";
import { type PredictionJson, predictionToJson } from "../../sigreturn/json.ts";
import { choosePolicies } from "../../sigreturn/policy.ts";
import { losesState } from "../../sigreturn/predict.ts";
import { POLICIES } from "../../sigreturn/types.ts";
import { XFEATURE } from "../../xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../xsave/layout.ts";
import {
  type FrameFlags,
  type FrameFormat,
  type FrameInput,
  type FrameInputOptions,
  frameInput,
  MAX_FRAME_BYTES,
} from "../input.ts";
import { predictTranslation, untranslatedReads } from "./predict.ts";
import { translateFpstate, translateSigframeImage } from "./translate.ts";
import type {
  AreaSizes,
  ComponentAction,
  FpstateTranslation,
  Relocation,
  SourceState,
  TranslateStyle,
  TranslationPrediction,
  UntranslatedRead,
} from "./types.ts";

const STYLES: readonly TranslateStyle[] = ["kernel", "criu"];

/** `translate`'s options as a user gives them. */
export interface TranslateRequest extends FrameFlags {
  /** IN: the frame file, or `-` for stdin. */
  input: string;
  /** The CPU that wrote IN, and the one that restores it (PROFILE arguments). */
  from: string;
  to: string;
  /** OUT, for the report (the caller writes `report.bytes` there). */
  output: string;
  /** `kernel` (default) or `criu`. */
  style?: string;
  /** The destination task has enabled AMX tile data. */
  amx?: boolean;
  /** Address of IN's first byte. */
  base?: string;
  keepSize?: boolean;
  fixMxcsr?: boolean;
  kernel?: string;
  policy?: string;
  /** The report goes to stdout as JSON (the frame then needs an output file). */
  json?: boolean;
}

export interface TranslateEnv {
  /** Reads a PROFILE argument (the CLI loads a file's reader only when it is given one). */
  loadProfile(arg: string): Profile | Promise<Profile>;
  /** A whole input file (or stdin for `-`), at most `max` bytes. */
  readInput(path: string, max: number): { name: string; bytes: Uint8Array };
  /** Refuses an output file that is one of the inputs. */
  checkOutput?(output: string, inputs: string[]): void;
}

export interface TranslateReport {
  from: { name: string; layout: XsaveLayout };
  to: { name: string; layout: XsaveLayout };
  style: TranslateStyle;
  input: FrameInput;
  translation: FpstateTranslation;
  /** The bytes to write: the translated frame or FPU area. */
  bytes: Uint8Array;
  output: string;
  /** How a whole frame moved (absent for an FPU area). */
  relocation?: Relocation;
  keepSize: boolean;
  predictions: TranslationPrediction[];
  /** What the destination would read from the untranslated frame. */
  untranslated: UntranslatedRead[];
  /** Facts about the translation and where the frame now sits. */
  notes: string[];
  /** The destination kernel as given, and what its release says about the policy. */
  kernel?: string;
  kernelNote?: string;
  /** State would be lost (a dropped component that held state, or a prediction that loses some). */
  lossy: boolean;
  exitCode: 0 | 3;
}

function sizeWord(from: number, to: number): string {
  return to > from
    ? `grows from ${from} to ${to} bytes`
    : to < from
      ? `shrinks from ${from} to ${to} bytes`
      : `keeps its ${from} bytes`;
}

/** What the new size means for a frame that sits in memory. */
function placementNotes(
  t: FpstateTranslation,
  rel: Relocation | undefined,
  keepSize: boolean,
  criuNeeded: number | undefined,
  bName: string,
): string[] {
  const from = t.source.size;
  const to = t.fpstate.size;
  if (keepSize)
    return [
      `kept in place: ${bName}'s ${t.style}-style area (${t.needed} bytes) is written inside the ${from}-byte source area; the bytes after magic2 are zero; the fpstate pointer and the frame's addresses are unchanged`,
    ];
  if (from === to)
    return [`the FPU area keeps its ${from} bytes: the frame can replace the original in place`];
  if (to < from)
    return [
      `the FPU area ${sizeWord(from, to)}: the frame keeps its start and fpstate pointer and ends ${from - to} bytes earlier, so it can replace the original in place; --keep-size also keeps its length (the bytes after magic2 zero).`,
    ];
  let s = `the FPU area ${sizeWord(from, to)}`;
  if (rel)
    s += `. Under the same top of stack (the end of the frame, ${hex(rel.end.from)}), the frame now starts at ${hex(rel.base.to)} (${-rel.delta} bytes lower) and its fpstate pointer is ${hex(rel.fpstate.to)} (64-byte aligned)`;
  let k = `--keep-size is not possible: ${bName}'s ${t.style}-style area needs ${t.needed} bytes and the source area has ${from}`;
  if (t.style === "kernel" && criuNeeded !== undefined)
    k +=
      criuNeeded <= from
        ? `; with --style criu (xstate_size trimmed to the highest component in use) it needs ${criuNeeded} bytes and fits, but refined kernels (v6.15–v7.1-rc5) then fall back to FX-only`
        : `; even --style criu (trimmed to the highest component in use) needs ${criuNeeded}`;
  return [
    `${s}.`,
    "A frame that sits on a real stack (a thread blocked in its handler, a checkpointed stack) cannot be resized in place: the bytes above it are the interrupted code's red zone and stack, those below it the handler's own frames. The restorer must lay out the stack around the frame at its new address (rt_sigreturn reads the frame at rsp − 8).",
    `${k}.`,
  ];
}

/** The translation of `request`: options parsed first (a bad one fails before any input is read). */
export async function translateReport(
  request: TranslateRequest,
  env: TranslateEnv,
): Promise<TranslateReport> {
  const style = (request.style ?? "kernel") as TranslateStyle;
  if (!STYLES.includes(style))
    throw new UsageError(`--style must be kernel or criu (got ${JSON.stringify(request.style)})`, {
      input: "--style",
    });
  if (request.kernel !== undefined && request.policy !== undefined)
    throw new UsageError("give at most one of --kernel K, --policy P", { input: "translate" });
  if (request.json && request.output === "-")
    throw new UsageError("--json writes the report to stdout: give -o FILE for the frame", {
      input: "--json",
    });
  env.checkOutput?.(request.output, [request.input]);
  const kernel = kernelOption(request.kernel);
  const chosen = choosePolicies(request.policy, kernel);
  const base = u64Option(request.base, "--base");

  const pa = await env.loadProfile(request.from);
  const pb = await env.loadProfile(request.to);
  const aName = displayName(pa, request.from);
  const bName = displayName(pb, request.to);
  if (request.amx && !hasBit(computeLayout(pb).xcr0, XFEATURE.XTILEDATA))
    throw new UsageError(`${bName} has no AMX tile data in XCR0`, { input: "--amx" });
  const la0 = computeLayout(pa);
  const inOpts: FrameInputOptions = { layout: la0 };
  if (base !== undefined) inOpts.base = base;
  const input = frameInput(env.readInput(request.input, MAX_FRAME_BYTES), request, inOpts);
  const src = input.fpstate;
  if (input.image && input.image.frame.mcontext.fpstate !== 0n && !src) {
    throw new UsageError(
      `the frame's fpstate ${hex(input.image.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or translate the FPU area with --fpstate-only`,
      { input: input.name, path: "frame/uc/uc_mcontext/fpstate" },
    );
  }
  // A frame from a task that used AMX is laid out with tile data: read it with that task's view.
  const la =
    src && hasBit(src.sw.xfeatures, XFEATURE.XTILEDATA) && hasBit(la0.xcr0, XFEATURE.XTILEDATA)
      ? computeLayout(pa, { amx: true })
      : la0;
  const lb = computeLayout(pb, request.amx ? { amx: true } : {});
  const mask = mxcsrMaskOf(pb);
  const topts = { from: la, to: lb, style, mxcsrMask: mask, fixMxcsr: Boolean(request.fixMxcsr) };
  const keepSize = Boolean(request.keepSize);

  let t: FpstateTranslation;
  let bytes: Uint8Array;
  let rel: Relocation | undefined;
  let address: bigint | undefined;
  let criuNeeded: number | undefined;
  try {
    if (input.image) {
      const r = translateSigframeImage(input.image, { ...topts, keepSize });
      t = r.fpstate;
      bytes = r.bytes;
      rel = r.relocation;
      address = rel.fpstate.to;
    } else {
      t = translateFpstate(src!, keepSize ? { ...topts, areaSize: src!.size } : topts);
      bytes = t.bytes;
      address = input.fpstateAddress;
    }
    if (style === "kernel" && t.fpstate.size > t.source.size) {
      try {
        criuNeeded = translateFpstate(src!, { ...topts, style: "criu" }).needed;
      } catch {
        criuNeeded = undefined;
      }
    }
  } catch (e) {
    if (isSigframeError(e)) {
      if (keepSize && e.kind === "usage" && e.path === "fpstate")
        throw new UsageError(
          `--keep-size: ${e.message}; the frame cannot keep its size (see 'sigframe help translate')`,
          { input: input.name },
        );
      e.locate({ input: input.name });
    }
    throw e;
  }

  const popts: Parameters<typeof predictTranslation>[1] = {
    task: lb,
    policies: chosen.policies ?? [...POLICIES],
    mxcsrMask: mask.value,
    compactedForm: pb.cpuid.has("XSAVEC"),
  };
  if (address !== undefined) popts.address = address;
  const predictions = predictTranslation(t, popts);
  const lossy = t.lost.length > 0 || predictions.some((r) => losesState(r.prediction) || !r.restored);
  const notes = [...t.notes, ...placementNotes(t, rel, keepSize, criuNeeded, bName)];
  if (t.mxcsr.unsupported && !t.mxcsr.fixed)
    notes.push(
      `MXCSR ${hex(t.mxcsr.value)} sets ${hex(t.mxcsr.unsupported)}, outside ${bName}'s MXCSR_MASK ${hex(t.mxcsr.mask)} (${t.mxcsr.basis}): sigreturn on ${bName} is SIGSEGV; --fix-mxcsr clears those bits`,
    );
  const report: TranslateReport = {
    from: { name: aName, layout: la },
    to: { name: bName, layout: lb },
    style,
    input,
    translation: t,
    bytes,
    output: request.output,
    keepSize,
    predictions,
    untranslated: untranslatedReads(src!, la, lb),
    notes,
    lossy,
    exitCode: lossy ? 3 : 0,
  };
  if (rel) report.relocation = rel;
  if (kernel) report.kernel = kernel.text;
  if (chosen.note) report.kernelNote = chosen.note;
  return report;
}

/** One side of a translation: the profile's name and what its task's frames hold. */
export interface TranslateHostJson {
  profile: string;
  xcr0: bigint;
  userFeatures: bigint;
  userSize: number;
}

export interface TranslateAreaJson {
  xstateSize: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateBv: bigint;
  areaSize: number;
}

export interface TranslateComponentJson {
  bit: number;
  name: string;
  action: ComponentAction;
  source: SourceState;
  from: { offset: number; size: number } | null;
  to: { offset: number; size: number } | null;
  lost: boolean;
  note: string | null;
}

/** `translate --json`. */
export interface TranslateJson {
  from: TranslateHostJson;
  to: TranslateHostJson;
  style: TranslateStyle;
  input: {
    file: string;
    format: FrameFormat;
    detected: boolean;
    fpstateOffset: number | null;
  } & TranslateAreaJson;
  output: { file: string; size: number; fpstateOffset: number } & TranslateAreaJson;
  components: TranslateComponentJson[];
  dropped: string[];
  lost: string[];
  mxcsr: {
    value: string;
    mask: string;
    maskEstimated: boolean;
    maskBasis: string;
    unsupported: string;
    fixed: boolean;
    written: string;
  };
  frame: {
    fpstateOffset: number;
    base: { from: bigint; to: bigint };
    fpstate: { from: bigint; to: bigint };
    end: { from: bigint; to: bigint };
    delta: number;
    inPlace: boolean;
  } | null;
  keepSize: boolean;
  verified: true;
  untranslated: {
    bit: number;
    name: string;
    from: { offset: number; size: number };
    to: { offset: number; size: number };
    reads: string[];
    pastXstateSize: boolean;
    pastArea: boolean;
  }[];
  kernel: string | null;
  note: string | null;
  predictions: (PredictionJson & { restored: boolean; missing: string[] })[];
  lossy: boolean;
  notes: string[];
}

function hostJson(l: XsaveLayout, name: string): TranslateHostJson {
  return { profile: name, xcr0: l.xcr0, userFeatures: l.userFeatures, userSize: l.userSize };
}

function areaJson(s: AreaSizes): TranslateAreaJson {
  return {
    xstateSize: s.xstateSize,
    extendedSize: s.extendedSize,
    xfeatures: s.xfeatures,
    xstateBv: s.xstateBv,
    areaSize: s.size,
  };
}

export function translateJson(r: TranslateReport): TranslateJson {
  const t = r.translation;
  const rel = r.relocation;
  return {
    from: hostJson(r.from.layout, r.from.name),
    to: hostJson(r.to.layout, r.to.name),
    style: r.style,
    input: {
      file: r.input.name,
      format: r.input.format,
      detected: r.input.detected,
      fpstateOffset: r.input.image ? (r.input.image.fpstateOffset ?? null) : 0,
      ...areaJson(t.source),
    },
    output: {
      file: r.output,
      size: r.bytes.length,
      fpstateOffset: rel ? rel.fpstateOffset : 0,
      ...areaJson(t.result),
    },
    components: t.components.map((m) => ({
      bit: m.bit,
      name: m.name,
      action: m.action,
      source: m.source,
      from: m.from ?? null,
      to: m.to ?? null,
      lost: m.lost,
      note: m.note ?? null,
    })),
    dropped: t.dropped,
    lost: t.lost,
    mxcsr: {
      value: hex(t.mxcsr.value),
      mask: hex(t.mxcsr.mask),
      maskEstimated: t.mxcsr.estimated,
      maskBasis: t.mxcsr.basis,
      unsupported: hex(t.mxcsr.unsupported),
      fixed: t.mxcsr.fixed,
      written: hex(t.mxcsr.written),
    },
    frame: rel
      ? {
          fpstateOffset: rel.fpstateOffset,
          base: rel.base,
          fpstate: rel.fpstate,
          end: rel.end,
          delta: Number(rel.delta),
          inPlace: rel.inPlace,
        }
      : null,
    keepSize: r.keepSize,
    verified: true,
    untranslated: r.untranslated.map((u) => ({
      bit: u.bit,
      name: u.name,
      from: u.from,
      to: u.to,
      reads: u.overlaps,
      pastXstateSize: u.pastXstateSize,
      pastArea: u.pastArea,
    })),
    kernel: r.kernel ?? null,
    note: r.kernelNote ?? null,
    predictions: r.predictions.map((p) => ({
      ...predictionToJson(p.prediction),
      restored: p.restored,
      missing: p.missing,
    })),
    lossy: r.lossy,
    notes: r.notes,
  };
}
