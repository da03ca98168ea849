/**
 * The fleet commands as requests and reports: `baseline`, `matrix` and `policy-diff` over hosts
 * given as PROFILE arguments, where a folder stands for every profile file in it. `loadFleet`
 * names the hosts (a name given twice gets `#2`), skips the files of a folder that are not
 * profiles, and refuses a folder that yields none. `baselineJson`, `matrixJson` and
 * `policyDiffJson` are their `--json` documents.
 */
import { isSigframeError, UsageError } from "../errors.ts";
import { toJson } from "../hex.ts";
import { type MxcsrMask, mxcsrMaskOf } from "../mxcsr.ts";
import { kernelOption } from "../options.ts";
import { displayName, type Profile } from "../profile.ts";
import { BUILTIN_PROFILES } from "../profiles/builtins.ts";
import { choosePolicies, parsePolicy } from "../sigreturn/policy.ts";
import { predict } from "../sigreturn/predict.ts";
import type { Policy, Prediction } from "../sigreturn/types.ts";
import type { LayoutOptions, XsaveLayout } from "../xsave/layout.ts";
import { profileLayout } from "../xsave/options.ts";
import { type BaselineResult, baseline } from "./baseline.ts";
import { type MatrixCell, type MatrixGroup, type MatrixResult, matrix } from "./matrix.ts";
import { type DiffGroup, type PolicyDiffResult, policyDiff } from "./policy-diff.ts";

export interface FleetHost {
  name: string;
  profile: Profile;
  layout: XsaveLayout;
  /** Measured, or estimated from CPUID. */
  mxcsrMask: MxcsrMask;
}

export interface FleetEnv {
  /** Reads a PROFILE argument. */
  loadProfile(arg: string): Profile | Promise<Profile>;
  /** The profile files a folder stands for (sorted); undefined when `arg` is not a folder. */
  folderFiles?(arg: string): string[] | undefined;
  /** A warning line (a folder's file that is not a profile). */
  warn?(text: string): void;
}

/**
 * The hosts of PROFILE arguments. A named file that fails is an error; files of a folder that are
 * not profiles are skipped with a warning, and a folder that yields no host is bad input.
 */
export async function loadFleet(
  args: string[],
  env: FleetEnv,
  options: LayoutOptions = {},
): Promise<FleetHost[]> {
  const out: FleetHost[] = [];
  const seen = new Map<string, number>();
  const add = (arg: string, p: Profile) => {
    let name = displayName(p, arg);
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    if (n > 0) name = `${name}#${n + 1}`;
    out.push({ name, profile: p, layout: profileLayout(p, options), mxcsrMask: mxcsrMaskOf(p) });
  };
  const skipped: { file: string; why: string }[] = [];
  for (const arg of args) {
    const files = env.folderFiles?.(arg);
    if (!files) {
      add(arg, await env.loadProfile(arg));
      continue;
    }
    const before = out.length;
    const skippedHere: { file: string; why: string }[] = [];
    for (const f of files) {
      try {
        add(f, await env.loadProfile(f));
      } catch (e) {
        if (!isSigframeError(e)) throw e;
        skippedHere.push({ file: f, why: e.message });
      }
    }
    // One rule for every fleet command: a folder that yields no host is bad input, whatever else
    // is named beside it (an empty fleet is a mistake, not a fleet of zero). Bad input ends in the
    // one error line, so the skipped files are summed up in it, not warned.
    if (out.length === before) {
      const first = skippedHere[0];
      throw new UsageError(
        first
          ? `no readable profile in this folder (${skippedHere.length} file${skippedHere.length === 1 ? "" : "s"} skipped; ${first.file}: ${first.why})`
          : "no profile files (*.json, *.txt, *.img, *.cpuid) in this folder",
        { input: arg },
      );
    }
    skipped.push(...skippedHere);
  }
  if (out.length === 0) throw new UsageError("no hosts given", { input: "PROFILE" });
  for (const s of skipped) env.warn?.(`${s.file}: skipped: ${s.why}`);
  return out;
}

/** `baseline P…|DIR`: the largest user feature mask portable across the hosts. */
export async function baselineReport(
  request: { profiles: string[] },
  env: FleetEnv,
): Promise<BaselineResult> {
  const hosts = await loadFleet(request.profiles, env);
  return baseline(hosts.map((h) => ({ name: h.name, layout: h.layout })));
}

/** `baseline --json`. */
export type BaselineJson = Pick<
  BaselineResult,
  "mask" | "components" | "frameSize" | "fxsaveOnly" | "excluded" | "hosts"
>;

export function baselineJson(r: BaselineResult): BaselineJson {
  return {
    mask: r.mask,
    components: r.components,
    frameSize: r.frameSize,
    fxsaveOnly: r.fxsaveOnly,
    excluded: r.excluded,
    hosts: r.hosts,
  };
}

export interface MatrixRequest {
  profiles: string[];
  kernel?: string;
  policy?: string;
}

export interface MatrixReport {
  matrix: MatrixResult;
  /** What the kernel release says about its policy, where that needs saying. */
  note?: string;
}

/** `matrix P…|DIR`: the check verdict for every ordered pair of hosts. */
export async function matrixReport(request: MatrixRequest, env: FleetEnv): Promise<MatrixReport> {
  const kernel = kernelOption(request.kernel);
  const pol = choosePolicies(request.policy, kernel);
  const hosts = await loadFleet(request.profiles, env);
  const opts: Parameters<typeof matrix>[1] = { predict };
  if (pol.policies) opts.policies = pol.policies;
  const report: MatrixReport = { matrix: matrix(hosts, opts) };
  if (pol.note) report.note = pol.note;
  return report;
}

/** `matrix --json`: hosts grouped by identical layout, and one cell per ordered pair of groups. */
export interface MatrixJson {
  policies: Policy[];
  hosts: { name: string; group: string }[];
  groups: MatrixGroup[];
  /** cells[i][j]: from group i to group j. */
  cells: ({ from: string; to: string } & MatrixCell)[][];
}

export function matrixJson(m: MatrixResult): MatrixJson {
  return {
    policies: m.policies,
    hosts: m.hosts.map((name, i) => ({ name, group: m.groups[m.groupOf[i]!]!.id })),
    groups: m.groups,
    cells: m.cells.map((row, i) =>
      row.map((cell, j) => ({ from: m.groups[i]!.id, to: m.groups[j]!.id, ...cell })),
    ),
  };
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `matrix --csv`: host × host, one verdict per cell (rows: from, columns: to). */
export function matrixCsv(m: MatrixResult): string {
  const lines = [["from\\to", ...m.hosts].map(csvCell).join(",")];
  m.hosts.forEach((h, i) => {
    const row = m.hosts.map((_, j) => m.cells[m.groupOf[i]!]![m.groupOf[j]!]!.verdict);
    lines.push([h, ...row].map(csvCell).join(","));
  });
  return `${lines.join("\n")}\n`;
}

export interface PolicyDiffRequest {
  /** The two policies, as given. */
  p: string;
  q: string;
  /** Hosts to build frames for (files, folders, built-in names); default the built-in profiles. */
  profiles?: string[];
}

/** `policy-diff P Q`: every representative frame whose sigreturn outcome differs between P and Q. */
export async function policyDiffReport(request: PolicyDiffRequest, env: FleetEnv): Promise<PolicyDiffResult> {
  const p = parsePolicy(request.p, "P");
  const q = parsePolicy(request.q, "Q");
  const args = request.profiles?.length ? request.profiles : BUILTIN_PROFILES.map((b) => b.name);
  const hosts = await loadFleet(args, env);
  return policyDiff(
    p,
    q,
    hosts.map((h) => ({ name: h.name, layout: h.layout })),
    predict,
  );
}

/** One policy's outcome of an example frame. */
export type PolicyOutcomeJson = Pick<Prediction, "path" | "signal" | "reason" | "detail"> & {
  lost: string[];
};

/** The smallest example frame of a group, with both policies' outcomes under their names. */
export type PolicyDiffExampleJson = {
  id: string;
  description: string;
  task: string;
  xstateSize: number;
  /** Bytes of the example's FPU area. */
  bytes: number;
  readableBytes?: number;
} & Partial<Record<Policy, PolicyOutcomeJson>>;

/** `policy-diff --json`. */
export interface PolicyDiffJson {
  p: Policy;
  q: Policy;
  layouts: number;
  total: number;
  differing: number;
  groups: (Pick<DiffGroup, "cause" | "title" | "count" | "kinds" | "frames"> & {
    example: PolicyDiffExampleJson;
  })[];
}

function outcomes(r: PolicyDiffResult, g: DiffGroup): Partial<Record<Policy, PolicyOutcomeJson>> {
  return {
    [r.p]: { ...g.example.p, lost: g.example.lostUnderP },
    [r.q]: { ...g.example.q, lost: g.example.lostUnderQ },
  };
}

export function policyDiffJson(r: PolicyDiffResult): PolicyDiffJson {
  return {
    p: r.p,
    q: r.q,
    layouts: r.layouts,
    total: r.total,
    differing: r.differing,
    groups: r.groups.map((g) => ({
      cause: g.cause,
      title: g.title,
      count: g.count,
      kinds: g.kinds,
      frames: g.frames,
      example: {
        id: g.example.frame.id,
        description: g.example.frame.description,
        task: g.example.frame.task,
        xstateSize: g.example.frame.xstateSize,
        bytes: g.example.frame.fpstate?.length ?? 0,
        ...(g.example.frame.readableBytes !== undefined
          ? { readableBytes: g.example.frame.readableBytes }
          : {}),
        ...outcomes(r, g),
      },
    })),
  };
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}

/**
 * `policy-diff --save-examples DIR`: per group, `NN-cause.fpstate` (the example's bytes, where it
 * has them) and `NN-cause.json` (what to expect of it under each policy).
 */
export function policyDiffExampleFiles(r: PolicyDiffResult): { name: string; data: Uint8Array | string }[] {
  return r.groups.flatMap((g, i) => {
    const base = `${String(i + 1).padStart(2, "0")}-${slug(g.cause)}`;
    const f = g.example.frame;
    const meta = policyDiffExampleMeta(r, g, f.fpstate ? `${base}.fpstate` : null);
    return [
      ...(f.fpstate ? [{ name: `${base}.fpstate`, data: f.fpstate }] : []),
      { name: `${base}.json`, data: `${toJson(meta)}\n` },
    ];
  });
}

/** What `--save-examples` writes beside a group's example frame (`fpstate`: that file's name). */
export function policyDiffExampleMeta(r: PolicyDiffResult, g: DiffGroup, fpstate: string | null) {
  const f = g.example.frame;
  return {
    cause: g.cause,
    description: f.description,
    task: f.task,
    fpstate,
    xstateSize: f.xstateSize,
    ...(f.readableBytes !== undefined ? { readableBytes: f.readableBytes } : {}),
    ...outcomes(r, g),
  };
}
