/**
 * Whole-process ratios: the installed command against the tools it sits beside, in the same run.
 * - `sigframe --version` and `sigframe layout amd-zen4 --json` against `node -e 0`;
 * - `sigframe criu show IMG --json` against Debian's `crit decode -i IMG`, for every image kind of
 *   the fixtures (the largest image of each kind);
 * - `sigframe scan` of a 256 MiB raw image against `grep -c -aF SXPF` of it (bench/scan.ts).
 * Each row is a median of interleaved runs (bench/process.ts); the ratio is ours / theirs, so
 * lower is better and 1.0 is a tie.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { CLI_BIN } from "../test/helpers/cli-bundle.ts";
import { FIXTURES } from "../test/helpers/shared.ts";
import { type ProcessCommand, type ProcessTiming, timeProcesses } from "./process.ts";

export interface ProcessRatio {
  name: string;
  ours: ProcessTiming;
  baseline: ProcessTiming;
  /** ours.wallMs / baseline.wallMs */
  ratio: number;
  /** ours.cpuMs / baseline.cpuMs */
  cpuRatio: number;
  /** The target for the ratio, where there is one. */
  target?: number;
}

export const node = (...args: string[]): string[] => [process.execPath, ...args];
/** The installed command as people start it: bin/sigframe.js runs through its `#!/bin/sh` line. */
export const sigframe = (...args: string[]): string[] => [CLI_BIN, ...args];

/** Pairs of (ours, baseline), timed interleaved in one run. */
export function ratios(
  pairs: { name: string; ours: ProcessCommand; baseline: ProcessCommand; target?: number }[],
  runs: number,
): ProcessRatio[] {
  const commands: ProcessCommand[] = [];
  const index = new Map<ProcessCommand, number>();
  for (const p of pairs)
    for (const c of [p.ours, p.baseline])
      if (!index.has(c)) {
        index.set(c, commands.length);
        commands.push(c);
      }
  const t = timeProcesses(commands, runs);
  return pairs.map((p) => {
    const ours = t[index.get(p.ours)!]!;
    const baseline = t[index.get(p.baseline)!]!;
    const r: ProcessRatio = {
      name: p.name,
      ours,
      baseline,
      ratio: ours.wallMs / baseline.wallMs,
      cpuRatio: ours.cpuMs / Math.max(baseline.cpuMs, 1e-9),
    };
    if (p.target !== undefined) r.target = p.target;
    return r;
  });
}

/** `--version` and a built-in layout against `node -e 0`. */
export function startupRatios(env: NodeJS.ProcessEnv, runs: number): ProcessRatio[] {
  const bare: ProcessCommand = { label: "node -e 0", argv: node("-e", "0"), env };
  return ratios(
    [
      {
        name: "sigframe --version",
        ours: { label: "sigframe --version", argv: sigframe("--version"), env },
        baseline: bare,
        target: 1.3,
      },
      {
        name: "sigframe layout amd-zen4 --json",
        ours: {
          label: "sigframe layout amd-zen4 --json",
          argv: sigframe("layout", "amd-zen4", "--json"),
          env,
        },
        baseline: bare,
        target: 1.6,
      },
    ],
    runs,
  );
}

/** The largest image of each kind in the fixtures' CRIU checkpoints (pages files are not images). */
export function imageKinds(): { kind: string; path: string }[] {
  const dir = join(FIXTURES, "criu");
  if (!existsSync(dir)) return [];
  const best = new Map<string, { path: string; size: number }>();
  for (const s of readdirSync(dir).sort()) {
    for (const f of readdirSync(join(dir, s))) {
      const kind = /^([a-z]+)(?:-\d+)?\.img$/.exec(f)?.[1] ?? (f === "stats-dump" ? "stats" : undefined);
      if (!kind || kind === "pages") continue;
      const path = join(dir, s, f);
      const size = statSync(path).size;
      if (size > (best.get(kind)?.size ?? -1)) best.set(kind, { path, size });
    }
  }
  return [...best.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, b]) => ({ kind, path: b.path }));
}

export function haveCrit(): boolean {
  const r = spawnSync("crit", ["--help"], { stdio: "ignore" });
  return !r.error && r.status === 0;
}

/** `criu show IMG --json` against `crit decode -i IMG`, per image kind. */
export function criuRatios(env: NodeJS.ProcessEnv, runs: number): ProcessRatio[] {
  if (!haveCrit()) return [];
  return ratios(
    imageKinds().map(({ kind, path }) => {
      // For the table: the image as the fixtures name it (S5/core-N.img), not where they are here.
      const shown = relative(join(FIXTURES, "criu"), path);
      return {
        name: `criu show ${kind} (${statSync(path).size} B)`,
        ours: {
          label: `sigframe criu show ${shown} --json`,
          argv: sigframe("criu", "show", path, "--json"),
          env,
        },
        baseline: { label: `crit decode -i ${shown}`, argv: ["crit", "decode", "-i", path], env },
        target: 0.8,
      };
    }),
    runs,
  );
}
