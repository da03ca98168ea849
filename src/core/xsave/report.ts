/**
 * `layout`, `diff` and `profiles` as requests and reports, and the words they print about a
 * layout, shared by the terminal and the explorer: the header lines, one row per component, the
 * closing line of a diff, and the `--json` documents (`layoutJson`, `diffJson`, `profilesJson`).
 */
import { hasBit, hex } from "../hex.ts";
import { kernelOption, sizeOption, xcr0Option } from "../options.ts";
import { describeProfile, type Profile, type profileSummary } from "../profile.ts";
import { BUILTIN_PROFILES } from "../profiles/builtins.ts";
import {
  maxFrameStackBytes,
  minSigStkSz,
  permissionAltstackMinimum,
  sigaltstackMinimum,
} from "../sigframe/stack.ts";
import { componentNames, XFEATURE } from "./components.ts";
import { diffLayouts, type LayoutDiff } from "./diff.ts";
import { computeLayout, type LayoutOptions, type XComponent, type XsaveLayout } from "./layout.ts";
import { profileLayout } from "./options.ts";

export interface LayoutHeader {
  /** `NAME: brand (vendor family … model … stepping …)`. */
  title: string;
  /** XCR0 and what it was computed for. */
  xcr0: string;
  /** The sizes line: XCR0, user_size, max, CPUID(0xD,0).ECX. */
  sizes: string;
  /** What a signal frame carries. */
  frame: string;
  /** How much stack a frame takes, AT_MINSIGSTKSZ, and the AMX sigaltstack bounds. */
  stack: string;
}

export function layoutHeader(p: Profile, l: XsaveLayout): LayoutHeader {
  const rules = l.kernel ? `Linux ${l.kernel}` : "current Linux rules";
  let kernel: string;
  if (l.xcr0Source === "forced") {
    const asked = l.xcr0Requested ?? l.xcr0;
    const dropped = asked & ~l.xcr0;
    kernel = `--xcr0 ${hex(asked)}${l.kernel ? ` under Linux ${l.kernel}` : ""}${dropped ? `; dropped ${componentNames(dropped)}` : ""}`;
  } else
    kernel = l.xcr0Source === "measured" ? (p.xcr0Basis ? `from ${p.xcr0Basis}` : "measured XCR0") : rules;
  return {
    title: `${p.name}: ${describeProfile(p)}`,
    xcr0: `${hex(l.xcr0)} (${kernel})`,
    sizes: `XCR0 ${hex(l.xcr0)} (${kernel})   user_size ${l.userSize}   max ${l.maxUserSize}   ${p.cpuidReconstructed === undefined ? `CPUID(0xD,0).ECX ${l.maxSize}` : "CPUID(0xD,0) not recorded"}`,
    frame: l.xsave
      ? `signal frame: xstate_size ${l.frame.xstateSize}, extended_size ${l.frame.extendedSize}, magic2 at fpstate+${l.frame.xstateSize}`
      : "signal frame: FXSAVE only (512 bytes, no magic2)",
    stack: stackWords(l),
  };
}

/** The stack a frame of this task takes, and what the kernel derives from the host's sizes. */
function stackWords(l: XsaveLayout): string {
  const s = signalStack(l);
  const amx = s.amx
    ? `; with the AMX permission sigaltstack() takes more than ${s.amx.sigaltstackMin - 1} bytes and ARCH_REQ_XCOMP_PERM wants every sigaltstack at least ${s.amx.permissionMin}`
    : "";
  return `signal stack: a frame takes up to ${s.frameBytes} bytes; AT_MINSIGSTKSZ ${s.atMinSigStkSz}${amx}`;
}

/** `layout --json`'s signalStack: the numbers behind the stack line. */
export function signalStack(l: XsaveLayout): {
  frameBytes: number;
  atMinSigStkSz: number;
  amx?: { userSize: number; sigaltstackMin: number; permissionMin: number };
} {
  const out: ReturnType<typeof signalStack> = {
    frameBytes: maxFrameStackBytes(l.frame.extendedSize),
    atMinSigStkSz: minSigStkSz(l),
  };
  if (l.xsave && hasBit(l.xcr0, XFEATURE.XTILEDATA))
    out.amx = {
      userSize: l.maxUserSize,
      sigaltstackMin: sigaltstackMinimum(l, l.maxUserSize),
      permissionMin: permissionAltstackMinimum(l, l.maxUserSize),
    };
  return out;
}

export type ComponentState = "in frames" | "supervisor" | "not enabled";

export interface ComponentRow {
  bit: number;
  name: string;
  description: string;
  size: number;
  /** "-" for supervisor components (they have no standard offset). */
  offset: string;
  compacted: string;
  flags: string;
  state: ComponentState;
  /** Why a user component the CPU has is not in frames. */
  reason?: string;
}

/** One row per component of the layout table. */
export function componentRows(l: XsaveLayout): ComponentRow[] {
  return l.components.map((x) => {
    const flags = [
      x.supervisor ? "sup" : "",
      x.align64 ? "a64" : "",
      x.xfd ? "xfd" : "",
      x.dynamic ? "dyn" : "",
    ]
      .filter(Boolean)
      .join(",");
    const row: ComponentRow = {
      bit: x.bit,
      name: x.name,
      description: x.description,
      size: x.size,
      offset: x.supervisor ? "-" : String(x.offset),
      compacted: x.compactedOffset === null ? "-" : String(x.compactedOffset),
      flags: flags || "-",
      state: x.enabled ? "in frames" : x.supervisor ? "supervisor" : "not enabled",
    };
    if (x.reason && !x.enabled && !x.supervisor) row.reason = x.reason;
    return row;
  });
}

/** The closing line of a diff. */
export function diffSummary(d: LayoutDiff): string {
  return d.identical
    ? "identical: a frame written on one is laid out exactly as the other expects"
    : `different: user_size ${d.a.userSize} vs ${d.b.userSize}; ${d.components.filter((x) => x.status !== "same").length} component(s) differ`;
}

/** Re-exported: the names of a mask's components, where the reports that print them are. */
export { componentNames };

/** The layout options as a user gives them (`--kernel`, `--xcr0`, `--amx`). */
export interface LayoutFlags {
  kernel?: string;
  xcr0?: string;
  amx?: boolean;
}

/** Parses the layout flags (before any input is read, so a bad flag fails first). */
export function layoutOptions(flags: LayoutFlags): LayoutOptions {
  const o: LayoutOptions = {};
  const k = kernelOption(flags.kernel);
  if (k) o.kernel = k;
  const x = xcr0Option(flags.xcr0);
  if (x !== undefined) o.xcr0 = x;
  if (flags.amx) o.amx = true;
  return o;
}

export interface ProfileEnv {
  /** Reads a PROFILE argument (`cpuIndex`: the CPU block of a multi-CPU `cpuid -r` dump). */
  loadProfile(arg: string, opts?: { cpuIndex?: number }): Profile | Promise<Profile>;
  /** Refuses an output file that is one of the inputs. */
  checkOutput?(output: string, inputs: string[]): void;
}

export interface LayoutRequest extends LayoutFlags {
  profile: string;
  /** `--cpu-index N`. */
  cpuIndex?: string;
  /** `--save-profile FILE`: checked against the input before anything is read. */
  saveProfile?: string;
}

export interface LayoutReport {
  profile: Profile;
  layout: XsaveLayout;
}

export async function layoutReport(request: LayoutRequest, env: ProfileEnv): Promise<LayoutReport> {
  const options = layoutOptions(request);
  if (request.saveProfile !== undefined) env.checkOutput?.(request.saveProfile, [request.profile]);
  const cpuIndex = sizeOption(request.cpuIndex, "--cpu-index");
  const profile = await env.loadProfile(request.profile, cpuIndex !== undefined ? { cpuIndex } : {});
  return { profile, layout: profileLayout(profile, options) };
}

export interface DiffRequest extends Omit<LayoutFlags, "xcr0"> {
  a: string;
  b: string;
}

export interface DiffReport {
  a: LayoutReport;
  b: LayoutReport;
  diff: LayoutDiff;
}

export async function diffReport(request: DiffRequest, env: ProfileEnv): Promise<DiffReport> {
  const options = layoutOptions(request);
  const pa = await env.loadProfile(request.a);
  const pb = await env.loadProfile(request.b);
  const a = { profile: pa, layout: profileLayout(pa, options) };
  const b = { profile: pb, layout: profileLayout(pb, options) };
  return { a, b, diff: diffLayouts(a.layout, b.layout) };
}

export interface LayoutComponentJson {
  bit: number;
  name: string;
  size: number;
  offset: number;
  compactedOffset: number | null;
  supervisor: boolean;
  align64: boolean;
  xfd: boolean;
  enabled: boolean;
  supported: boolean;
  dynamic: boolean;
  reason?: string;
}

/** `layout --json`: the layout of one CPU as Linux sets it up. */
export interface LayoutJson {
  profile: ReturnType<typeof profileSummary>;
  kernel: string | null;
  xsave: boolean;
  xcr0: string;
  xcr0Source: XsaveLayout["xcr0Source"];
  xcr0Requested?: string;
  userFeatures: string;
  userSize: number;
  maxUserSize: number;
  maxSize: number;
  frame: { xstateSize: number; extendedSize: number };
  /** The stack a frame takes, AT_MINSIGSTKSZ, and with AMX the sigaltstack bounds. */
  signalStack: ReturnType<typeof signalStack>;
  components: LayoutComponentJson[];
  warnings: string[];
}

function componentJson(c: XComponent): LayoutComponentJson {
  const o: LayoutComponentJson = {
    bit: c.bit,
    name: c.name,
    size: c.size,
    offset: c.offset,
    compactedOffset: c.compactedOffset,
    supervisor: c.supervisor,
    align64: c.align64,
    xfd: c.xfd,
    enabled: c.enabled,
    supported: c.supported,
    dynamic: c.dynamic,
  };
  if (c.reason) o.reason = c.reason;
  return o;
}

export function layoutJson(l: XsaveLayout): LayoutJson {
  const doc: LayoutJson = {
    profile: l.profile,
    kernel: l.kernel ?? null,
    xsave: l.xsave,
    xcr0: hex(l.xcr0),
    xcr0Source: l.xcr0Source,
    userFeatures: hex(l.userFeatures),
    userSize: l.userSize,
    maxUserSize: l.maxUserSize,
    maxSize: l.maxSize,
    frame: l.frame,
    signalStack: signalStack(l),
    components: l.components.map(componentJson),
    warnings: l.warnings,
  };
  if (l.xcr0Requested === undefined) return doc;
  // xcr0Requested sits after xcr0Source in the document.
  const {
    userFeatures,
    userSize,
    maxUserSize,
    maxSize,
    frame,
    signalStack: st,
    components,
    warnings,
    ...head
  } = doc;
  return {
    ...head,
    xcr0Requested: hex(l.xcr0Requested),
    userFeatures,
    userSize,
    maxUserSize,
    maxSize,
    frame,
    signalStack: st,
    components,
    warnings,
  };
}

/** `diff --json`. */
export type DiffJson = LayoutDiff;

export function diffJson(r: DiffReport): DiffJson {
  return r.diff;
}

export interface BuiltinProfileRow {
  name: string;
  title: string;
  vendor: string;
  xcr0: string;
  userSize: number;
  maxUserSize: number;
}

/** `profiles --json`: the built-in profiles. */
export interface ProfilesJson {
  profiles: BuiltinProfileRow[];
}

/** One row per built-in profile: its CPU and the frames Linux gives it. */
export function builtinProfileRows(): BuiltinProfileRow[] {
  return BUILTIN_PROFILES.map((b) => {
    const p = b.build();
    const l = computeLayout(p);
    return {
      name: b.name,
      title: b.title,
      vendor: p.vendor,
      xcr0: hex(l.xcr0),
      userSize: l.userSize,
      maxUserSize: l.maxUserSize,
    };
  });
}
