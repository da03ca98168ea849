/**
 * `predict`, `inspect` and `build` as requests and reports: a frame file read at a CPU's layout,
 * then what sigreturn does with it (`predictReport`) or every field decoded and checked
 * (`inspectReport`); or a frame built from register values (`buildReport`). `predictJson` and
 * `inspectJson` are their `--json` documents.
 */
import { TruncatedInputError, UsageError } from "../errors.ts";
import { hex } from "../hex.ts";
import { type MxcsrMask, mxcsrMaskOf } from "../mxcsr.ts";
import { kernelOption, sizeOption, u64Option } from "../options.ts";
import type { Profile } from "../profile.ts";
import { type PredictionJson, predictionToJson } from "../sigreturn/json.ts";
import { choosePolicies, type PolicyChoice } from "../sigreturn/policy.ts";
import { losesState } from "../sigreturn/predict.ts";
import { POLICIES, type Prediction } from "../sigreturn/types.ts";
import { decodeText } from "../text.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import { type BuildOptions, type BuildStyle, buildFrame } from "./build.ts";
import { type Finding, findingsExitCode } from "./check.ts";
import type { Fpstate, LegacyRegisters, SwBytes, XsaveHeader } from "./fpstate.ts";
import type { FrameStart, Sigcontext, SigframeImage, Siginfo, UcontextHead } from "./frame.ts";
import type {
  CompatSiginfo,
  FsaveHeader,
  Ia32FrameKind,
  Ia32SigframeImage,
  Sigcontext32,
  UcontextIa32Head,
} from "./ia32.ts";
import { type BuildIa32Options, buildIa32Frame } from "./ia32-build.ts";
import {
  type FrameCheckOptions,
  type FrameFlags,
  type FrameFormat,
  type FrameInput,
  type FrameInputOptions,
  type FramePredictOptions,
  frameCheckFor,
  frameInput,
  frameInputFindings,
  MAX_FRAME_BYTES,
  predictFrameInput,
} from "./input.ts";
import { emptyState, MAX_STATE_BYTES } from "./state.ts";

export interface FrameEnv {
  /** Reads a PROFILE argument (the CLI loads a file's reader only when it is given one). */
  loadProfile(arg: string): Profile | Promise<Profile>;
  /** A whole input file (or stdin for `-`), at most `max` bytes. */
  readInput(path: string, max: number): { name: string; bytes: Uint8Array };
  /** The policy this machine's kernel shows (the probe); undefined when it cannot tell. */
  measurePolicy?(): PolicyChoice | undefined;
}

/** `predict`'s options as a user gives them. */
export interface PredictRequest extends FrameFlags {
  /** FILE: the frame, or `-` for stdin. */
  input: string;
  /** The receiving CPU (PROFILE argument). */
  cpu: string;
  kernel?: string;
  policy?: string;
  allPolicies?: boolean;
  base?: string;
  address?: string;
  readableBytes?: string;
  amx?: boolean;
  /** Exit 3 when state is lost or the task gets SIGSEGV. */
  failOnLoss?: boolean;
  /**
   * With `cpu: "host"` and no --kernel/--policy/--all-policies: measure the running kernel's
   * policy (default, as `check --to host` does), or with false read it from the kernel release.
   */
  measure?: boolean;
}

export interface PredictReport {
  input: FrameInput;
  /** The receiving task's layout, and its CPU's MXCSR_MASK (measured or estimated). */
  task: XsaveLayout;
  mxcsrMask: MxcsrMask;
  predictions: Prediction[];
  /** `--readable-bytes`: bytes mapped from the FPU area on, as given. */
  readableBytes?: number;
  kernel?: string;
  /** What the kernel release says about its policy, where that needs saying. */
  note?: string;
  /** Some prediction loses state or kills the task. */
  lossy: boolean;
  exitCode: 0 | 3;
}

export async function predictReport(request: PredictRequest, env: FrameEnv): Promise<PredictReport> {
  const modes = [request.kernel !== undefined, request.policy !== undefined, Boolean(request.allPolicies)];
  const n = modes.filter(Boolean).length;
  // `--cpu host` alone: this machine can say which policy its kernel implements (as check --to host).
  const onHost = request.cpu === "host" && n === 0;
  if (n > 1 || (n === 0 && !onHost))
    throw new UsageError(
      "give exactly one of --kernel K, --policy P, --all-policies (with --cpu host, none: the running kernel's policy is measured)",
      { input: "predict" },
    );
  let kernel = kernelOption(request.kernel);
  let chosen: PolicyChoice = choosePolicies(request.policy, kernel);
  const base = u64Option(request.base, "--base");
  const address = u64Option(request.address, "--address");
  const readable = sizeOption(request.readableBytes, "--readable-bytes");

  const profile = await env.loadProfile(request.cpu);
  if (onHost) {
    const measured = request.measure !== false ? env.measurePolicy?.() : undefined;
    if (measured) chosen = measured;
    else {
      // Not measured (--no-measure, or no probe here): the running kernel's release.
      if (!profile.kernel)
        throw new UsageError(
          "the host's kernel release is not known and its policy could not be measured: give --kernel K or --policy P",
          { input: "predict" },
        );
      kernel = kernelOption(profile.kernel);
      const byRelease = choosePolicies(undefined, kernel);
      chosen = {
        ...byRelease,
        note: [
          `policy of this host's kernel ${profile.kernel} from the release table${request.measure === false ? " (--no-measure)" : " (the probe could not run)"}`,
          byRelease.note,
        ]
          .filter(Boolean)
          .join("; "),
      };
    }
  }
  const task = computeLayout(profile, request.amx ? { amx: true } : {});
  const inOpts: FrameInputOptions = { layout: task };
  if (base !== undefined) inOpts.base = base;
  // With --readable-bytes the capture ends where memory ends: a cut frame is a prediction
  // (the kernel's read of the missing bytes faults), not an input error.
  if (readable !== undefined) inOpts.strict = false;
  let input: FrameInput;
  try {
    input = frameInput(env.readInput(request.input, MAX_FRAME_BYTES), request, inOpts);
  } catch (e) {
    if (e instanceof TruncatedInputError && readable === undefined && /magic2|header/.test(e.path ?? ""))
      e.message +=
        "; if the capture ends where the task's memory ends, give --readable-bytes N for a prediction";
    throw e;
  }
  if (input.image && input.image.frame.mcontext.fpstate !== 0n && !input.fpstate) {
    throw new UsageError(
      `the frame's fpstate ${hex(input.image.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or predict the FPU area with --fpstate-only`,
      { input: input.name, path: "frame/uc/uc_mcontext/fpstate" },
    );
  }
  const ia32Img = input.ia32?.image;
  if (ia32Img && ia32Img.frame.mcontext.fpstate !== 0n && !input.ia32?.fpstate) {
    throw new UsageError(
      `the frame's fpstate ${hex(ia32Img.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or predict the FPU area with --ia32 --fpstate-only`,
      {
        input: input.name,
        path: ia32Img.frame.kind === "rt" ? "frame/uc/uc_mcontext/fpstate" : "frame/sc/fpstate",
      },
    );
  }
  const popts: FramePredictOptions = {};
  if (address !== undefined) popts.address = address;
  if (readable !== undefined) popts.readableBytes = readable;
  const predictions = predictFrameInput(input, profile, task, chosen.policies ?? [...POLICIES], popts);
  const lossy = predictions.some(losesState);
  const report: PredictReport = {
    input,
    task,
    // The receiving CPU's MXCSR_MASK: measured where the profile has it, else from CPUID.
    mxcsrMask: mxcsrMaskOf(profile),
    predictions,
    lossy,
    exitCode: request.failOnLoss && lossy ? 3 : 0,
  };
  if (readable !== undefined) report.readableBytes = readable;
  if (kernel) report.kernel = kernel.text;
  if (chosen.note) report.note = chosen.note;
  return report;
}

/** `predict --json`: one prediction with the kernel beside it, or every policy's under `predictions`. */
export type PredictJson =
  | (PredictionJson & { kernel: string | null; note: string | null })
  | { kernel: string | null; note: string | null; predictions: PredictionJson[] };

export function predictJson(r: PredictReport): PredictJson {
  const docs = r.predictions.map(predictionToJson);
  const kernel = r.kernel ?? null;
  const note = r.note ?? null;
  return docs.length === 1 ? { ...docs[0]!, kernel, note } : { kernel, note, predictions: docs };
}

/** `inspect`'s options as a user gives them. */
export interface InspectRequest extends FrameFlags {
  input: string;
  base?: string;
  /** The CPU whose layout locates the components (PROFILE argument). */
  cpu?: string;
  amx?: boolean;
}

export interface InspectReport {
  input: FrameInput;
  /** The layout the components were read at, with `cpu`. */
  layout?: XsaveLayout;
  findings: Finding[];
  /** 0 no finding above info, 1 warnings, 3 errors. */
  exitCode: number;
}

export async function inspectReport(request: InspectRequest, env: FrameEnv): Promise<InspectReport> {
  const base = u64Option(request.base, "--base");
  let layout: XsaveLayout | undefined;
  let check: FrameCheckOptions = {};
  if (request.cpu) {
    const p = await env.loadProfile(request.cpu);
    layout = computeLayout(p, request.amx ? { amx: true } : {});
    check = frameCheckFor(p, layout);
  }
  const o: FrameInputOptions = {};
  if (base !== undefined) o.base = base;
  if (layout) o.layout = layout;
  const input = frameInput(env.readInput(request.input, MAX_FRAME_BYTES), request, o);
  const findings = frameInputFindings(input, check);
  const report: InspectReport = { input, findings, exitCode: findingsExitCode(findings) };
  if (layout) report.layout = layout;
  return report;
}

export interface FpstateJson {
  size: number;
  legacy: LegacyRegisters;
  swBytes: SwBytes;
  header: XsaveHeader | null;
  components: {
    bit: number;
    name: string;
    offset: number;
    size: number;
    registers: Record<string, bigint>;
  }[];
  magic2: number | null;
  /** Non-zero bytes no field covers. */
  unclaimed: { offset: number; size: number }[];
}

export interface FrameImageJson {
  start: FrameStart;
  base: bigint | null;
  baseSource: SigframeImage["baseSource"];
  pretcode: bigint | null;
  uc: UcontextHead;
  mcontext: Sigcontext;
  ucSigmask: bigint | null;
  info: Siginfo | null;
  fpstateOffset: number | null;
}

export interface Ia32FrameImageJson {
  kind: Ia32FrameKind;
  base: bigint | null;
  baseSource: Ia32SigframeImage["baseSource"];
  pretcode: bigint;
  sig: bigint;
  pinfo: bigint | null;
  puc: bigint | null;
  info: CompatSiginfo | null;
  uc: UcontextIa32Head | null;
  mcontext: Sigcontext32;
  ucSigmask: bigint | null;
  extramask: bigint | null;
  retcode: bigint;
  fpstateOffset: number | null;
}

export interface Ia32FpstateJson {
  size: number;
  fsave: FsaveHeader;
  fxsave: FpstateJson | null;
}

/** `inspect --json`: the frame and FPU area decoded field by field, and the findings. */
export type InspectJson = {
  input: string;
  format: FrameFormat;
  /** The CPU the components were read at. */
  cpu: string | null;
  findings: Finding[];
} & (
  | { frame: FrameImageJson | null; fpstate: FpstateJson | null }
  | { frame: Ia32FrameImageJson | null; fpstate: Ia32FpstateJson | null }
);

function fpstateJson(fp: Fpstate): FpstateJson {
  return {
    size: fp.size,
    legacy: fp.legacy,
    swBytes: fp.sw,
    header: fp.header ?? null,
    components: fp.components.map((c) => ({
      bit: c.bit,
      name: c.name,
      offset: c.offset,
      size: c.size,
      registers: c.registers,
    })),
    magic2: fp.magic2 ?? null,
    unclaimed: fp.extra.map((r) => ({ offset: r.offset, size: r.bytes.length })),
  };
}

function imageJson(img: SigframeImage): FrameImageJson {
  return {
    start: img.frame.start,
    base: img.baseSource === "none" ? null : img.base,
    baseSource: img.baseSource,
    pretcode: img.frame.pretcode ?? null,
    uc: img.frame.uc,
    mcontext: img.frame.mcontext,
    ucSigmask: img.frame.ucSigmask ?? null,
    info: img.frame.info ?? null,
    fpstateOffset: img.fpstateOffset ?? null,
  };
}

function ia32ImageJson(img: Ia32SigframeImage): Ia32FrameImageJson {
  const f = img.frame;
  return {
    kind: f.kind,
    base: img.baseSource === "none" ? null : img.base,
    baseSource: img.baseSource,
    pretcode: f.pretcode,
    sig: f.sig,
    pinfo: f.pinfo ?? null,
    puc: f.puc ?? null,
    info: f.info ?? null,
    uc: f.uc ?? null,
    mcontext: f.mcontext,
    ucSigmask: f.ucSigmask ?? null,
    extramask: f.extramask ?? null,
    retcode: f.retcode,
    fpstateOffset: img.fpstateOffset ?? null,
  };
}

export function inspectJson(r: InspectReport): InspectJson {
  const { input, layout, findings } = r;
  const head = { input: input.name, format: input.format, cpu: layout ? layout.profile.name : null };
  if (input.ia32) {
    const fp = input.ia32.fpstate;
    return {
      ...head,
      frame: input.ia32.image ? ia32ImageJson(input.ia32.image) : null,
      fpstate: fp ? { size: fp.size, fsave: fp.fsave, fxsave: fp.fx ? fpstateJson(fp.fx) : null } : null,
      findings,
    };
  }
  return {
    ...head,
    frame: input.image ? imageJson(input.image) : null,
    fpstate: input.fpstate ? fpstateJson(input.fpstate) : null,
    findings,
  };
}

const BUILD_STYLES: readonly BuildStyle[] = ["kernel", "criu", "pwntools"];

/** `build`'s options as a user gives them. */
export interface BuildRequest {
  /** The CPU the FPU area is laid out for (PROFILE argument); needed whenever one is written. */
  cpu?: string;
  /** `kernel` (default), `criu` or `pwntools`. */
  style?: string;
  /** STATE.json: register values (a path, or `-`). */
  state?: string;
  fpstateOnly?: boolean;
  /** pwntools SigreturnFrame size: `248` or `304` (default). */
  pwntoolsVariant?: string;
  base?: string;
  amx?: boolean;
  ia32?: boolean;
  /** Where the bytes go (checked against the inputs before anything is read). */
  output: string;
}

export interface BuildEnv extends FrameEnv {
  checkOutput?(output: string, inputs: (string | undefined)[]): void;
}

/** The frame built, and what the summary says about it. */
export interface BuildReport {
  bytes: Uint8Array;
  /** `kernel`, `criu`, `pwntools 304` … */
  producer: string;
  /** What the bytes are: `rt_sigframe`, `FPU area`, `SROP payload (from uc_flags)`, `rt_sigframe_ia32` … */
  kind: string;
  fpstateOffset?: number;
  /** The fpstate pointer written in the frame. */
  fpstateAddress?: bigint;
  /** The FPU area's FXSAVE/XSAVE image (after the FSAVE header for ia32). */
  fpstate?: Fpstate;
  ia32: boolean;
  /** Facts about the output a user should know (values no kernel would take …). */
  notes: string[];
}

export async function buildReport(request: BuildRequest, env: BuildEnv): Promise<BuildReport> {
  const style = (request.style ?? "kernel") as BuildStyle;
  if (!BUILD_STYLES.includes(style))
    throw new UsageError(`--style must be kernel, criu or pwntools (got ${JSON.stringify(request.style)})`, {
      input: "--style",
    });
  const variant = Number(request.pwntoolsVariant ?? "304");
  if (variant !== 248 && variant !== 304)
    throw new UsageError("--pwntools-variant must be 248 or 304", { input: "--pwntools-variant" });
  const base = u64Option(request.base, "--base");
  if (style !== "pwntools" && !request.cpu)
    throw new UsageError(`--cpu is needed: the ${style} style writes an FPU area laid out for a CPU`, {
      input: "build",
    });
  if (request.fpstateOnly && !request.cpu)
    throw new UsageError("--cpu is needed with --fpstate-only", { input: "build" });
  env.checkOutput?.(request.output, [request.state, request.cpu]);
  let state = emptyState();
  if (request.state !== undefined) {
    const f = env.readInput(request.state, MAX_STATE_BYTES);
    // The STATE.json validator (zod) is loaded only when a state is given.
    const { parseStateText } = await import("./state-json.ts");
    state = parseStateText(decodeText(f.bytes), f.name);
  }
  if (request.ia32 && style !== "kernel")
    throw new UsageError("--ia32 builds only the kernel style", { input: "--style" });
  const profile = request.cpu ? await env.loadProfile(request.cpu) : undefined;
  const layout = profile ? computeLayout(profile, request.amx ? { amx: true } : {}) : undefined;
  // What this CPU's FXSAVE stores: measured, else estimated from its CPUID (AMD: 0x2ffff).
  const mxcsrMask = profile ? BigInt(mxcsrMaskOf(profile).value) : undefined;
  if (request.ia32) {
    const o: BuildIa32Options = { layout: layout!, state };
    if (mxcsrMask !== undefined) o.mxcsrMask = mxcsrMask;
    if (request.fpstateOnly) o.fpstateOnly = true;
    if (base !== undefined) o.base = base;
    const r = buildIa32Frame(o);
    const out: BuildReport = {
      bytes: r.bytes,
      producer: "kernel",
      kind: request.fpstateOnly ? "ia32 FPU area" : "rt_sigframe_ia32",
      fpstateOffset: r.fpstateOffset,
      ia32: true,
      notes: r.notes,
    };
    if (r.fpstate.fx) out.fpstate = r.fpstate.fx;
    if (r.image) out.fpstateAddress = r.image.frame.mcontext.fpstate;
    return out;
  }
  const opts: BuildOptions = { style, state, pwntoolsVariant: variant };
  if (layout) opts.layout = layout;
  if (mxcsrMask !== undefined) opts.mxcsrMask = mxcsrMask;
  if (request.fpstateOnly) opts.fpstateOnly = true;
  if (base !== undefined) opts.base = base;
  const r = buildFrame(opts);
  const out: BuildReport = {
    bytes: r.bytes,
    producer: style === "pwntools" ? `pwntools ${variant}` : style,
    kind: request.fpstateOnly
      ? "FPU area"
      : style === "pwntools"
        ? "SROP payload (from uc_flags)"
        : "rt_sigframe",
    ia32: false,
    notes: r.notes,
  };
  if (r.fpstate) out.fpstate = r.fpstate;
  if (r.fpstateOffset !== undefined) out.fpstateOffset = r.fpstateOffset;
  if (r.image) out.fpstateAddress = r.image.frame.mcontext.fpstate;
  return out;
}
