/**
 * Whole-process timing, ours and the baseline side by side: the commands run interleaved (one of
 * each per round, in turn), so a change in the machine's load falls on both alike, and each is
 * reported as the median wall time of its runs. CPU time (user + system, from the kernel's
 * per-child accounting) is reported beside it: on a busy machine it moves far less than wall time.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface ProcessCommand {
  /** Short label for the table. */
  label: string;
  argv: string[];
  /** Where stdout goes: a file (grep must not see /dev/null) or nowhere. */
  stdoutFile?: string;
  env?: Record<string, string | undefined>;
  /** Exit codes that count as success (default 0). */
  ok?: number[];
}

export interface ProcessTiming {
  label: string;
  command: string;
  runs: number;
  /** Median wall time of one run, ms. */
  wallMs: number;
  /** Mean CPU time (user + system) of one run, ms. */
  cpuMs: number;
}

/** User + system time of this process's waited-for children so far, in ms (clock ticks of 10 ms). */
function childCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of proc(5) (cutime, cstime), counted from field 3 here.
  return (Number(f[13]) + Number(f[14])) * 10;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function runOnce(c: ProcessCommand): { ms: number; cpu: number } {
  const out = c.stdoutFile ? openSync(c.stdoutFile, "w") : "ignore";
  try {
    const cpu0 = childCpuMs();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(c.argv[0]!, c.argv.slice(1), {
      stdio: ["ignore", out, "pipe"],
      env: c.env ?? process.env,
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = childCpuMs() - cpu0;
    if (r.error) throw r.error;
    if (!(c.ok ?? [0]).includes(r.status ?? -1))
      throw new Error(`${c.argv.join(" ")}: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
    return { ms, cpu };
  } finally {
    if (typeof out === "number") closeSync(out);
  }
}

/** Runs every command `runs` times, interleaved, after `warmup` untimed rounds. */
export function timeProcesses(commands: ProcessCommand[], runs: number, warmup = 2): ProcessTiming[] {
  const wall = commands.map(() => [] as number[]);
  const cpu = commands.map(() => 0);
  for (let round = 0; round < warmup + runs; round++) {
    commands.forEach((c, i) => {
      const r = runOnce(c);
      if (round >= warmup) {
        wall[i]!.push(r.ms);
        cpu[i]! += r.cpu;
      }
    });
  }
  return commands.map((c, i) => ({
    label: c.label,
    command: c.argv.join(" "),
    runs,
    wallMs: median(wall[i]!),
    cpuMs: cpu[i]! / runs,
  }));
}
