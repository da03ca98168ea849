/**
 * What the explorer computes, without the DOM: profiles from bytes, layouts, diffs and checks,
 * with the same options and the same words as the CLI's `layout`, `diff` and `check`.
 */
import { type CheckInput, type CheckResult, checkCompat, criuCpuinfo } from "../../src/core/compat/index.ts";
import { parseElfCore } from "../../src/core/elf/core.ts";
import { profileFromCore } from "../../src/core/elf/profile.ts";
import { InvalidDataError, isSigframeError, UsageError } from "../../src/core/errors.ts";
import { hex } from "../../src/core/hex.ts";
import { type KernelVersion, parseKernelVersion } from "../../src/core/kernel.ts";
import type { Profile } from "../../src/core/profile.ts";
import { BUILTIN_PROFILES } from "../../src/core/profiles/builtins.ts";
import { profileFromBytes } from "../../src/core/profiles/detect.ts";
import { type Policy, policiesForKernel, predict } from "../../src/core/sigreturn/index.ts";
import { bytesSource } from "../../src/core/source.ts";
import { diffLayouts, type LayoutDiff } from "../../src/core/xsave/diff.ts";
import { computeLayout, type LayoutOptions, type XsaveLayout } from "../../src/core/xsave/layout.ts";

/** The CLI reads at most this much of a profile file. */
export const MAX_PROFILE_BYTES = 64 * 1024 * 1024;

export const POLICY_NAMES: readonly Policy[] = ["legacy", "classic", "refined"];

/** A profile from a file's bytes, format detected as the CLI does (`cpuid -r`, JSON, cpuinfo.img, core). */
export function profileFromFile(bytes: Uint8Array, name: string): Profile {
  if (bytes.length > MAX_PROFILE_BYTES) {
    throw new InvalidDataError(
      `file is ${bytes.length} bytes; the limit for this input is ${MAX_PROFILE_BYTES}`,
      {
        input: name,
      },
    );
  }
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    // As the CLI: anything that starts like an ELF file is read as a core (and fails as one).
    try {
      return profileFromCore(parseElfCore(bytesSource(bytes)), name);
    } catch (e) {
      if (isSigframeError(e)) e.locate({ input: name });
      throw e;
    }
  }
  return profileFromBytes(bytes, name);
}

export function builtinList(): { name: string; title: string }[] {
  return BUILTIN_PROFILES.map((b) => ({ name: b.name, title: b.title }));
}

/** `--kernel` as typed: empty means none; a bad version fails as the CLI's option does. */
export function kernelFromText(text: string): KernelVersion | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  try {
    return parseKernelVersion(t);
  } catch (e) {
    throw new UsageError((e as Error).message, { input: "--kernel" });
  }
}

export interface LayoutChoice {
  kernel?: KernelVersion;
  amx?: boolean;
}

/** The CLI's layout options for one profile: a profile that knows its kernel but not XCR0 uses that kernel. */
export function layoutFor(p: Profile, choice: LayoutChoice = {}): XsaveLayout {
  const o: LayoutOptions = {};
  if (choice.kernel) o.kernel = choice.kernel;
  if (choice.amx) o.amx = true;
  if (!o.kernel && p.kernel && p.xcr0 === undefined) {
    try {
      o.kernel = parseKernelVersion(p.kernel);
    } catch {
      // An unparsable `uname -r` leaves the newest rules.
    }
  }
  return computeLayout(p, o);
}

export function describeProfile(p: Profile): string {
  const sig = `${p.vendor} family ${p.family} model ${p.model} stepping ${p.stepping}`;
  return p.brand ? `${p.brand} (${sig})` : sig;
}

/** The header lines `sigframe layout` prints above its table. */
export function layoutHeader(
  p: Profile,
  l: XsaveLayout,
): { title: string; xcr0: string; sizes: string; frame: string } {
  const kernel = l.kernel
    ? `Linux ${l.kernel}`
    : p.xcr0 !== undefined
      ? "measured XCR0"
      : "current Linux rules";
  return {
    title: `${p.name}: ${describeProfile(p)}`,
    xcr0: `${hex(l.xcr0)} (${kernel})`,
    sizes: `XCR0 ${hex(l.xcr0)} (${kernel})   user_size ${l.userSize}   max ${l.maxUserSize}   CPUID(0xD,0).ECX ${l.maxSize}`,
    frame: l.xsave
      ? `signal frame: xstate_size ${l.frame.xstateSize}, extended_size ${l.frame.extendedSize}, magic2 at fpstate+${l.frame.xstateSize}`
      : "signal frame: FXSAVE only (512 bytes, no magic2)",
  };
}

export interface ComponentRow {
  bit: number;
  name: string;
  description: string;
  size: number;
  /** "-" for supervisor components, as the CLI prints. */
  offset: string;
  compacted: string;
  flags: string;
  state: "in frames" | "supervisor" | "not enabled";
  reason?: string;
}

/** The rows of the `sigframe layout` table. */
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
    const state = x.enabled ? "in frames" : x.supervisor ? "supervisor" : "not enabled";
    const row: ComponentRow = {
      bit: x.bit,
      name: x.name,
      description: x.description,
      size: x.size,
      offset: x.supervisor ? "-" : String(x.offset),
      compacted: x.compactedOffset === null ? "-" : String(x.compactedOffset),
      flags: flags || "-",
      state,
    };
    if (x.reason && !x.enabled && !x.supervisor) row.reason = x.reason;
    return row;
  });
}

export interface DiffView {
  diff: LayoutDiff;
  a: XsaveLayout;
  b: XsaveLayout;
  /** The closing line of `sigframe diff`. */
  summary: string;
}

export function diffFor(pa: Profile, pb: Profile, choice: LayoutChoice = {}): DiffView {
  const a = layoutFor(pa, choice);
  const b = layoutFor(pb, choice);
  const d = diffLayouts(a, b);
  const summary = d.identical
    ? "identical: a frame written on one is laid out exactly as the other expects"
    : `different: user_size ${d.a.userSize} vs ${d.b.userSize}; ${d.components.filter((x) => x.status !== "same").length} component(s) differ`;
  return { diff: d, a, b, summary };
}

/** A short name for messages: the built-in name, or a file name without `.json`, `.txt`, `.img`. */
export function displayName(p: Profile): string {
  if (p.source.kind === "builtin" || p.source.kind === "host") return p.name;
  const base = p.name.split("/").filter(Boolean).pop() ?? p.name;
  return base.replace(/\.(json|txt|img)$/i, "");
}

export function mxcsrMaskOf(p: Profile): number | undefined {
  return p.mxcsrMask ?? p.observed?.mxcsrMask;
}

export interface CheckChoice {
  kernel?: KernelVersion;
  /** "" or undefined: all three. */
  policy?: string;
}

/** `--policy P` or `--kernel K` to the policies to judge by, with the CLI's messages. */
export function policiesFor(choice: CheckChoice): { policies?: Policy[]; note?: string } {
  const policy = choice.policy || undefined;
  if (policy !== undefined && choice.kernel !== undefined)
    throw new UsageError("give --kernel or --policy, not both", { input: "--policy" });
  if (policy !== undefined) {
    if (!POLICY_NAMES.includes(policy as Policy))
      throw new UsageError(`expected one of ${POLICY_NAMES.join(", ")}, got ${JSON.stringify(policy)}`, {
        input: "--policy",
      });
    return { policies: [policy as Policy] };
  }
  if (choice.kernel !== undefined) {
    const k = policiesForKernel(choice.kernel);
    const out: { policies?: Policy[]; note?: string } = { policies: k.policies };
    if (k.note) out.note = k.note;
    return out;
  }
  return {};
}

/** The policies of a recorded destination kernel release (`uname -r`), if it parses. */
export function destinationPolicies(release: string): { policies: Policy[]; note: string } | undefined {
  let v: KernelVersion;
  try {
    v = parseKernelVersion(release);
  } catch {
    return undefined;
  }
  const k = policiesForKernel(v);
  return { policies: k.policies, note: `destination kernel ${release}${k.note ? `: ${k.note}` : ""}` };
}

/** `sigframe check --from A --to B [--kernel K | --policy P]`. */
export function checkFor(
  pa: Profile,
  pb: Profile,
  choice: CheckChoice = {},
): { result: CheckResult; note?: string } {
  let pol = policiesFor(choice);
  const lb = layoutFor(pb, choice.kernel ? { kernel: choice.kernel } : {});
  if (!pol.policies && pb.kernel !== undefined) {
    // A destination that records its kernel (a saved host profile, a core) is judged by that kernel.
    const dest = destinationPolicies(pb.kernel);
    if (dest) pol = dest;
  }
  const la = layoutFor(pa);
  const input: CheckInput = {
    from: la,
    to: lb,
    predict,
    names: { from: displayName(pa), to: displayName(pb) },
    criu: { from: criuCpuinfo(la, pa), to: criuCpuinfo(lb, pb) },
  };
  if (pol.policies) input.policies = pol.policies;
  const ma = mxcsrMaskOf(pa);
  const mb = mxcsrMaskOf(pb);
  if (ma !== undefined) input.fromMxcsrMask = ma;
  if (mb !== undefined) input.toMxcsrMask = mb;
  const result = checkCompat(input);
  return pol.note ? { result, note: pol.note } : { result };
}
