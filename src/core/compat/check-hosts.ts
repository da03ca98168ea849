/**
 * `sigframe check` as a request and a report, for the CLI, the web explorer and library users:
 * the request names the hosts and options as a user gives them; `checkHosts` chooses the kernel
 * policies (measured on this machine where the environment can), takes the source host and frames
 * from a checkpoint or core where one is given, builds the check input and runs `checkCompat`.
 * `checkJson` is the `check --json` document.
 */
import { UsageError } from "../errors.ts";
import { hasBit } from "../hex.ts";
import { mxcsrMaskOf } from "../mxcsr.ts";
import { kernelOption, u64Option } from "../options.ts";
import { displayName, type Profile } from "../profile.ts";
import type { CheckpointFrames } from "../scan/cases.ts";
import { type FrameSize, framesOf, frameWords, writes } from "../scan/frame-size.ts";
import { choosePolicies, type PolicyChoice, withDestinationKernel } from "../sigreturn/policy.ts";
import { predict } from "../sigreturn/predict.ts";
import { POLICIES, type Policy } from "../sigreturn/types.ts";
import { XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { profileLayout } from "../xsave/options.ts";
import { type CheckInput, type CheckResult, checkCompat, type HostSummary, type Verdict } from "./check.ts";
import { type CriuCpuinfo, criuCpuinfo } from "./criu.ts";
import type { ComponentFate, Fate, FrameOutcome } from "./evaluate.ts";
import { type Finding, type FrameStyle, finding } from "./findings.ts";

/** A PROFILE argument (`host`, a built-in name, a path) or a profile already loaded. */
export type ProfileArg = string | Profile;

export type Restorer = "criu" | "raw-copy";

/** `check`'s options as a user gives them (command line or form fields). */
export interface CheckRequest {
  /** Source host; with `checkpoint`/`core` the CPU the image records when absent (or `-`). */
  from?: ProfileArg;
  /** Destination host (`host`: this machine). */
  to: ProfileArg;
  /** `--kernel X.Y[.Z][-rcN]`: the destination kernel, mapped to its policy. */
  kernel?: string;
  /** `--policy legacy|classic|refined`. */
  policy?: string;
  /** `--uses MASK`: what the process uses (xstate_bv). */
  uses?: string;
  /** `--restorer criu,raw-copy|none`. */
  restorer?: string;
  /** A CRIU checkpoint directory, or an ELF core file: the source host and the frames on its stacks. */
  checkpoint?: string;
  core?: string;
  /** With `to: "host"`: measure the running kernel's policy (default) rather than use the table. */
  measure?: boolean;
  /**
   * `--amx`: the restorer requests AMX permission again on the destination
   * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)), so the destination's tasks have tile
   * data in their user_features and user_size, as an AMX task had on the source.
   */
  amx?: boolean;
}

/** What a check needs from where it runs. */
export interface CheckEnv {
  /** Reads a PROFILE argument (the CLI loads a file's reader only when it is given one). */
  loadProfile(arg: string): Profile | Promise<Profile>;
  /** The policy this machine's kernel shows (the probe); undefined when it cannot tell. */
  measurePolicy?(): PolicyChoice | undefined;
  /** The frames of a checkpoint or core for the check (node/scan-target.ts). */
  checkpointFrames?(
    kind: "checkpoint" | "core",
    path: string,
    from: XsaveLayout | undefined,
    to: XsaveLayout,
  ): CheckpointFrames | Promise<CheckpointFrames>;
}

export interface CheckReport extends CheckResult {
  /** How the policies were chosen and what the image told, for the reader. */
  note?: string;
}

/** `--restorer LIST`: the restorer-built frames to evaluate. */
export function restorersOption(text: string | undefined): Restorer[] | undefined {
  if (text === undefined) return undefined;
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 1 && list[0] === "none") return [];
  for (const r of list)
    if (r !== "criu" && r !== "raw-copy")
      throw new UsageError(`expected criu, raw-copy or none, got ${JSON.stringify(r)}`, {
        input: "--restorer",
      });
  return list as Restorer[];
}

async function load(arg: ProfileArg, env: CheckEnv): Promise<{ profile: Profile; name: string }> {
  if (typeof arg !== "string") return { profile: arg, name: displayName(arg) };
  const profile = await env.loadProfile(arg);
  return { profile, name: displayName(profile, arg) };
}

/** The check of `request`: options parsed first (a bad one fails before any input is read). */
export async function checkHosts(request: CheckRequest, env: CheckEnv): Promise<CheckReport> {
  const kernel = kernelOption(request.kernel);
  const chosen = choosePolicies(request.policy, kernel);
  const uses = u64Option(request.uses, "--uses");
  const restorers = restorersOption(request.restorer);
  if (request.checkpoint !== undefined && request.core !== undefined)
    throw new UsageError("give --checkpoint or --core, not both", { input: "--core" });
  const to = await load(request.to, env);
  const lb = profileLayout(to.profile, {
    ...(kernel ? { kernel } : {}),
    ...(request.amx ? { amx: true } : {}),
  });
  if (request.amx && !hasBit(lb.userFeatures, XFEATURE.XTILEDATA))
    throw new UsageError(`${to.name} has no AMX tile data to request permission for`, { input: "--amx" });
  let pol = withDestinationKernel(chosen, to.profile.kernel);
  if (request.to === "host" && !chosen.policies && request.measure !== false && env.measurePolicy) {
    // This machine can say which policy its kernel implements: ask it (sigframe probe, < 1 s).
    const measured = env.measurePolicy();
    if (measured) pol = measured;
  }
  let from: { profile: Profile; name: string } | undefined;
  let taken: CheckpointFrames | undefined;
  const inputFindings: Finding[] = [];
  const kind =
    request.checkpoint !== undefined ? "checkpoint" : request.core !== undefined ? "core" : undefined;
  if (kind) {
    const path = (kind === "checkpoint" ? request.checkpoint : request.core)!;
    if (!env.checkpointFrames)
      throw new UsageError(`reading frames from a ${kind} is not available here`, { input: `--${kind}` });
    from = request.from === undefined || request.from === "-" ? undefined : await load(request.from, env);
    taken = await env.checkpointFrames(kind, path, from ? profileLayout(from.profile) : undefined, lb);
    const image = taken.profile
      ? { profile: taken.profile, name: displayName(taken.profile, taken.profile.name) }
      : undefined;
    if (from && image && contradicts(from.profile, taken) && !contradicts(image.profile, taken)) {
      // The frames state their writer; the image's own record agrees with them and --from does
      // not: the record wins, and the report says so.
      inputFindings.push(sourceContradicted(from, image, kind, taken));
      from = image;
      taken = await env.checkpointFrames(kind, path, undefined, lb);
    }
    from ??= image;
    if (from) inputFindings.push(...mismatchFindings(from, taken));
  } else {
    if (request.from === undefined)
      throw new UsageError("give --from PROFILE (or --checkpoint/--core)", { input: "--from" });
    from = await load(request.from, env);
  }
  if (!from) throw new UsageError("the source host is not known: pass --from", { input: "--from" });
  // A process whose state (given, or found in the image) has tile data had AMX permission.
  const used = uses ?? taken?.uses;
  const amx = used !== undefined && hasBit(used, XFEATURE.XTILEDATA) ? { amx: true } : {};
  const la = profileLayout(from.profile, amx);
  const input: CheckInput = {
    from: la,
    to: lb,
    predict,
    names: { from: from.name, to: to.name },
    criu: { from: criuCpuinfo(la, from.profile), to: criuCpuinfo(lb, to.profile) },
    fromMxcsrMask: mxcsrMaskOf(from.profile),
    toMxcsrMask: mxcsrMaskOf(to.profile),
  };
  if (pol.policies) input.policies = pol.policies;
  const u = uses ?? taken?.uses;
  if (u !== undefined) input.uses = u;
  if (taken) input.frames = taken.frames;
  if (taken?.altstacks) input.altstacks = taken.altstacks;
  if (restorers) input.restorers = restorers;
  if (inputFindings.length) input.inputFindings = inputFindings;
  const report: CheckReport = checkCompat(input);
  const note = [pol.note, ...(taken?.notes ?? [])].filter(Boolean).join("; ");
  if (note) report.note = note;
  return report;
}

/** Some live frame of the image was not written by `p`'s kernel (its xstate_size/xfeatures differ). */
function contradicts(p: Profile, taken: CheckpointFrames): boolean {
  const l = profileLayout(p);
  return (taken.live ?? []).some((f) => !writes(l, f));
}

function distinct(frames: readonly FrameSize[]): FrameSize[] {
  const out: FrameSize[] = [];
  for (const f of frames)
    if (!out.some((x) => x.xfeatures === f.xfeatures && x.xstateSize === f.xstateSize)) out.push(f);
  return out;
}

function sourceContradicted(
  given: { profile: Profile; name: string },
  image: { profile: Profile; name: string },
  kind: "checkpoint" | "core",
  taken: CheckpointFrames,
): Finding {
  const live = taken.live ?? [];
  const record =
    image.profile.source.kind === "criu-cpuinfo"
      ? "cpuinfo.img"
      : image.profile.source.kind === "elf-core"
        ? "its XSAVE notes"
        : "its own record";
  return finding("source_contradicted", {
    message: `--from ${given.name} contradicts the ${live.length} live frame${live.length === 1 ? "" : "s"} on the stacks: they state ${frameWords(distinct(live))}, and ${given.name}'s kernel writes ${frameWords(framesOf(profileLayout(given.profile)))}; the ${kind}'s ${record} (${image.name}: ${image.profile.vendor}) agrees with them, so it is the source here`,
  });
}

/** The live frames the source layout did not write, one finding per size: what they were read with. */
function mismatchFindings(from: { profile: Profile; name: string }, taken: CheckpointFrames): Finding[] {
  const l = profileLayout(from.profile);
  const groups = new Map<string, NonNullable<CheckpointFrames["mismatches"]>>();
  for (const m of taken.mismatches ?? []) {
    const k = `${m.frame.xfeatures}|${m.frame.xstateSize}|${m.writer?.profile.vendor ?? ""}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  return [...groups.values()].map((g) => {
    const m = g[0]!;
    const frames = g.map((x) => x.id);
    const which = `frame${frames.length === 1 ? "" : "s"} ${frames.join(", ")} state${frames.length === 1 ? "s" : ""} ${frameWords(m.frame)}`;
    return m.writer
      ? finding("frame_layout_mismatch", {
          frames,
          message: `${which}, not what ${from.name}'s kernel writes (${frameWords(framesOf(l))}): ${frames.length === 1 ? "its" : "their"} components are read at ${m.writer.profile.vendor}'s standard offsets, the only published layout that gives that size (a frame written on another host before a migration, or a source that is not the CPU the process ran on)`,
        })
      : finding("frame_layout_mismatch", {
          severity: "error",
          frames,
          message: `${which}, which neither ${from.name}'s kernel nor any published vendor layout writes: where ${frames.length === 1 ? "its" : "their"} components are is not known (the fates are computed at ${from.name}'s offsets); pass --from with the CPU that wrote ${frames.length === 1 ? "it" : "them"}`,
        });
  });
}

/** CRIU's answer in words, and how it compares with the verdict, as the reports print them. */
export function criuWords(criu: CheckResult["criu"]): { answer: "accepts" | "refuses"; assessment: string } {
  return {
    answer: criu.wouldAccept ? "accepts" : "refuses",
    assessment:
      criu.assessment === "agrees"
        ? "agrees with this verdict"
        : criu.assessment === "refuses-needlessly"
          ? "refuses although the state restores"
          : "accepts although state is lost",
  };
}

export interface CheckComponentJson {
  bit: number;
  name: string;
  fate: Fate;
  /** Where the writer put it (absent: nowhere). */
  offset?: number;
  readFrom?: number;
}

export interface CheckFrameJson {
  frame: string;
  style: FrameStyle;
  path: FrameOutcome["path"];
  signal: null | "SIGSEGV";
  reason: string;
  detail: string;
  intact: boolean;
  components: CheckComponentJson[];
}

export interface CheckPolicyJson {
  verdict: Verdict["verdict"];
  selected: boolean;
  kernels: string;
  frames: CheckFrameJson[];
}

/** `check --json`. */
export interface CheckJson {
  verdict: Verdict["verdict"];
  exitCode: Verdict["exitCode"];
  from: HostSummary;
  to: HostSummary;
  uses: bigint;
  evaluated: Policy[];
  findings: Finding[];
  policies: Record<Policy, CheckPolicyJson>;
  criu: {
    wouldAccept: boolean;
    reason: string;
    failures: string[];
    assessment: CheckResult["criu"]["assessment"];
    image: CriuCpuinfo;
    host: CriuCpuinfo;
  };
  frames: CheckResult["frames"];
  note?: string;
}

function componentJson(c: ComponentFate): CheckComponentJson {
  const o: CheckComponentJson = { bit: c.bit, name: c.name, fate: c.fate };
  if (c.expectedOffset >= 0) o.offset = c.expectedOffset;
  if (c.readFrom !== undefined) o.readFrom = c.readFrom;
  return o;
}

export function checkJson(r: CheckReport): CheckJson {
  const policies = {} as Record<Policy, CheckPolicyJson>;
  for (const p of POLICIES) {
    const x = r.policies[p];
    policies[p] = {
      verdict: x.verdict,
      selected: x.selected,
      kernels: x.kernels,
      frames: x.frames.map((f) => ({
        frame: f.frame,
        style: f.style,
        path: f.path,
        signal: f.signal,
        reason: f.reason,
        detail: f.detail,
        intact: f.intact,
        components: f.components.map(componentJson),
      })),
    };
  }
  const doc: CheckJson = {
    verdict: r.verdict,
    exitCode: r.exitCode,
    from: r.from,
    to: r.to,
    uses: r.uses,
    evaluated: r.evaluated,
    findings: r.findings,
    policies,
    criu: {
      wouldAccept: r.criu.wouldAccept,
      reason: r.criu.reason,
      failures: r.criu.failures,
      assessment: r.criu.assessment,
      image: r.criu.image,
      host: r.criu.host,
    },
    frames: r.frames,
  };
  if (r.note) doc.note = r.note;
  return doc;
}
