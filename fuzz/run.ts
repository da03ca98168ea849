/**
 * `npm run fuzz [-- options]`: a mutation campaign over every parser family, one worker thread per
 * family under resource limits. The parent watches each worker: an execution that runs past the
 * hang limit (CPU time, or wall time without progress) or drives memory past the limit is stopped,
 * its case read back from shared memory and written as a reproducer; a worker that dies of heap
 * exhaustion is a memory finding the same way. Findings the workers see themselves (untyped errors,
 * executions over the time or memory budget) are minimised and written by them.
 *
 *   --family F          a family (repeat, or comma-separated; default: all; --list shows them)
 *   --seconds N         wall-clock seconds per family (default 60)
 *   --execs N           executions per family instead (deterministic for a given seed)
 *   --seed S            campaign seed (default 1)
 *   --out DIR           where reproducers and summary.json go (default: $TMPDIR/sigframe-fuzz)
 *   --time-budget MS    CPU milliseconds one execution may take (default 500)
 *   --memory-budget MB  how far one execution may raise peak memory (default 128)
 *   --jobs N            families run at once, each in a process of its own (default 1)
 *   --level L           command (default: the whole CLI per execution) or core (the family's
 *                       readers on the bytes in memory: core-runs.ts)
 *   --no-minimise       write findings as found
 *   --json              the summary as JSON on stdout
 *   --replay DIR        run every reproducer under DIR (each in a process of its own) and report
 */

import { type ChildProcess, spawn } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { buildWorkerBundle, sweepStale } from "./bundle.ts";
import { type Budgets, ERROR_LINE, LEVELS, type Level, OUTCOMES, type OutcomeKind } from "./engine.ts";
import { FAMILIES, familyByName } from "./families.ts";
import { decodeCase, SAB, SAB_BYTES } from "./shared.ts";
import type { FindingReport, WorkerConfig, WorkerMessage } from "./worker.ts";

export interface CampaignOptions {
  families: string[];
  seconds?: number;
  execs?: number;
  seed: number;
  out: string;
  budgets: Budgets;
  /** Default `command`. */
  level?: Level;
  jobs: number;
  minimise: boolean;
  /** CPU ms after which a running execution is stopped as a hang. */
  hangCpuMs: number;
  /** Wall ms after which a running execution is stopped (blocked, or starved for good). */
  hangWallMs: number;
  /** Process memory (RSS) above which a worker is stopped. */
  rssLimitBytes: number;
  /** Heap limit of a worker (resourceLimits.maxOldGenerationSizeMb). */
  heapMb: number;
  /** Called with a line of progress. */
  log?(line: string): void;
  /** The worker script (default: the bundle of fuzz/worker.ts, built on first use). */
  workerPath?: string | URL;
  /** More fields for the worker's workerData (a stand-in worker's instructions, in tests). */
  workerExtra?: Record<string, unknown>;
}

export interface FamilyResult {
  family: string;
  execs: number;
  seconds: number;
  cpuSeconds: number;
  counts: Record<OutcomeKind, number>;
  findings: FindingReport[];
  restarts: number;
}

let workerBundle: Promise<string> | undefined;

function emptyCounts(): Record<OutcomeKind, number> {
  return { ok: 0, typed: 0, untyped: 0, time: 0, memory: 0 };
}

interface Segment {
  messages: WorkerMessage[];
  stopped?: { kind: "time" | "memory" | "untyped"; detail: string; exec: number; idle?: boolean };
  done?: Extract<WorkerMessage, { type: "done" }>;
}

/** Runs one worker until it is done or stopped. */
async function runWorker(
  cfg: WorkerConfig,
  o: CampaignOptions,
  onMessage: (m: WorkerMessage) => void,
): Promise<Segment> {
  if (!o.workerPath) workerBundle ??= buildWorkerBundle();
  const bundlePath = o.workerPath ?? (await workerBundle!);
  return new Promise((resolvePromise) => {
    const seg: Segment = { messages: [] };
    const view = new SAB(cfg.sab);
    const w = new Worker(bundlePath, {
      workerData: { ...cfg, ...o.workerExtra },
      resourceLimits: { maxOldGenerationSizeMb: o.heapMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 8 },
    });
    let settled = false;
    const stop = (kind: "time" | "memory" | "untyped", detail: string) => {
      if (seg.stopped || seg.done) return;
      seg.stopped = { kind, detail, exec: view.exec() };
      void w.terminate();
    };
    // The parent notes the process's CPU time when it first sees an execution running: the
    // worker does not pay for a clock read per execution, and a hang is CPU spent since then.
    let watched = -1;
    let watchedCpu = 0;
    const timer = setInterval(() => {
      if (view.running()) {
        const cpu = process.cpuUsage();
        const now = (cpu.user + cpu.system) / 1000;
        const n = view.exec();
        if (n !== watched) {
          watched = n;
          watchedCpu = now;
        } else if (now - watchedCpu > o.hangCpuMs)
          stop("time", `still running after ${Math.round(now - watchedCpu)} ms of CPU`);
        else if (Date.now() - view.started() > o.hangWallMs)
          stop("time", `still running after ${Math.round((Date.now() - view.started()) / 1000)} s`);
      }
      const rss = process.memoryUsage.rss();
      if (rss > o.rssLimitBytes) {
        stop("memory", `process memory reached ${Math.round(rss / 2 ** 20)} MiB`);
        // Between executions the memory is the fuzzer's own, not a command's.
        if (seg.stopped && !view.running()) seg.stopped.idle = true;
      }
    }, 50);
    w.on("message", (m: WorkerMessage) => {
      if (m.type === "done") seg.done = m;
      onMessage(m);
    });
    w.on("error", (e: Error & { code?: string }) => {
      if (seg.stopped || seg.done) return;
      const kind = e.code === "ERR_WORKER_OUT_OF_MEMORY" ? "memory" : "untyped";
      seg.stopped = {
        kind,
        detail: `worker ${e.code ?? "error"}: ${e.stack ?? e.message}`,
        exec: view.exec(),
      };
      // Between executions the fuzzer itself failed, not a command.
      if (!view.running() && kind === "untyped") seg.stopped.idle = true;
    });
    w.on("exit", (code) => {
      clearInterval(timer);
      if (!seg.done && !seg.stopped)
        seg.stopped = { kind: "untyped", detail: `worker exited with code ${code}`, exec: view.exec() };
      if (!settled) {
        settled = true;
        resolvePromise(seg);
      }
    });
  });
}

/** The campaign of one family: workers one after another until its executions or time are spent. */
export async function runFamily(family: string, o: CampaignOptions): Promise<FamilyResult> {
  const result: FamilyResult = {
    family,
    execs: 0,
    seconds: 0,
    cpuSeconds: 0,
    counts: emptyCounts(),
    findings: [],
    restarts: 0,
  };
  const t0 = Date.now();
  const deadline = o.seconds !== undefined ? t0 + o.seconds * 1000 : 0;
  const total = o.execs ?? Number.MAX_SAFE_INTEGER;
  const known = new Set<string>();
  const dir = join(scratchRoot(), `sigframe-fuzz-${process.pid}-${family}`);
  let next = 0;
  let lastLog = Date.now();
  const base = { execs: 0, cpuMs: 0, counts: emptyCounts() };
  const onMessage = (m: WorkerMessage) => {
    if (m.type === "finding") {
      if (!known.has(m.finding.signature)) {
        known.add(m.finding.signature);
        result.findings.push(m.finding);
        o.log?.(
          `${family}: ${m.finding.kind}: ${m.finding.signature}${m.finding.path ? `\n  ${m.finding.path}` : ""}`,
        );
      }
    } else {
      result.execs = base.execs + m.execs;
      result.cpuSeconds = (base.cpuMs + m.cpuMs) / 1000;
      for (const k of OUTCOMES) result.counts[k] = base.counts[k] + (m.counts[k] ?? 0);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        o.log?.(progressLine(result, (Date.now() - t0) / 1000));
      }
    }
  };
  while (next < total && (!deadline || Date.now() < deadline)) {
    const sab = new SharedArrayBuffer(SAB_BYTES);
    const cfg: WorkerConfig = {
      mode: "campaign",
      family,
      seed: o.seed,
      start: next,
      execs: total - next,
      deadline,
      budgets: o.budgets,
      level: o.level ?? "command",
      dir,
      out: o.out,
      minimise: o.minimise,
      known: [...known],
      sab,
    };
    const seg = await runWorker(cfg, o, onMessage);
    base.execs = result.execs;
    base.cpuMs = result.cpuSeconds * 1000;
    for (const k of OUTCOMES) base.counts[k] = result.counts[k];
    if (seg.done) {
      next = seg.done.exec;
      if (!seg.done.restart) break;
      result.restarts++;
      continue;
    }
    // Stopped: the running case is a finding; write it from shared memory, go on after it.
    const s = seg.stopped!;
    const view = new SAB(sab);
    if (!view.started() || s.idle)
      throw new Error(`${family}: the fuzzer failed between executions: ${s.detail}`);
    result.counts[s.kind]++;
    result.execs++;
    base.execs = result.execs;
    base.counts[s.kind] = result.counts[s.kind];
    result.restarts++;
    if (decodeCase(view)) {
      await runWorker(
        { ...cfg, mode: "repro", start: s.exec, execs: 0, known: [...known], repro: s },
        // The reproducer's worker runs no case itself (its candidates run in processes of their
        // own), and the process may still hold the memory of the worker that was stopped.
        {
          ...o,
          hangCpuMs: Number.MAX_SAFE_INTEGER,
          hangWallMs: 10 * 60_000,
          rssLimitBytes: Number.MAX_SAFE_INTEGER,
        },
        onMessage,
      );
    } else {
      const f: FindingReport = {
        family,
        kind: s.kind,
        signature: `${s.kind}: stopped (${s.detail})`,
        detail: `${s.detail}; the case was too large to keep`,
        exec: s.exec,
        path: "",
        command: "",
        bytes: 0,
      };
      onMessage({ type: "finding", finding: f });
    }
    next = s.exec + 1;
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

/** A campaign's scratch folder: `sigframe-fuzz-<pid>-<family>`. */
export const SCRATCH_NAME = /^sigframe-fuzz-(\d+)-/;

/** Where cases are written: tmpfs when there is one (every execution writes its input). */
export function scratchRoot(): string {
  try {
    if (statSync("/dev/shm").isDirectory()) {
      accessSync("/dev/shm", constants.W_OK);
      return "/dev/shm";
    }
  } catch {}
  return tmpdir();
}

function progressLine(r: FamilyResult, seconds: number): string {
  const c = r.counts;
  return `${r.family}: ${r.execs} execs in ${seconds.toFixed(0)} s (${(r.execs / Math.max(seconds, 0.001)).toFixed(0)}/s): ok ${c.ok}, typed ${c.typed}, untyped ${c.untyped}, time ${c.time}, memory ${c.memory}`;
}

/** Runs the campaign over the chosen families, `jobs` at a time. */
export async function runCampaign(o: CampaignOptions): Promise<FamilyResult[]> {
  sweepStale(scratchRoot(), SCRATCH_NAME);
  const results: FamilyResult[] = [];
  const queue = [...o.families];
  const lanes = Array.from({ length: Math.max(1, o.jobs) }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const r = await runFamily(f, o);
      o.log?.(`${progressLine(r, r.seconds)} (done)`);
      results.push(r);
    }
  });
  await Promise.all(lanes);
  return o.families.map((f) => results.find((r) => r.family === f)!);
}

/**
 * `--jobs N` (N > 1): each family runs in a process of its own, N at a time. An execution's CPU time
 * and peak memory are the process's (getrusage), so two families' workers in one process would
 * charge each other's work to their executions' budgets.
 */
async function runInProcesses(o: CampaignOptions, log: (line: string) => void): Promise<FamilyResult[]> {
  const args = [
    fileURLToPath(import.meta.url),
    "--level",
    o.level ?? "command",
    "--seed",
    String(o.seed),
    "--out",
    o.out,
    "--time-budget",
    String(o.budgets.timeMs),
    "--memory-budget",
    String(o.budgets.memoryBytes / 2 ** 20),
    "--jobs",
    "1",
    "--json",
    ...(o.execs !== undefined ? ["--execs", String(o.execs)] : ["--seconds", String(o.seconds ?? 60)]),
    ...(o.minimise ? [] : ["--no-minimise"]),
  ];
  const running = new Set<ChildProcess>();
  const stop = () => {
    for (const c of running) c.kill("SIGTERM");
  };
  // Interrupted: the families' processes are stopped, no other is started, and this process then
  // ends of the same signal.
  let aborted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    aborted = sig;
    stop();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const results = new Map<string, FamilyResult>();
  const failed: string[] = [];
  const queue = [...o.families];
  try {
    await Promise.all(
      Array.from({ length: o.jobs }, async () => {
        for (let f = queue.shift(); f !== undefined && !aborted; f = queue.shift()) {
          const child = spawn(process.execPath, [...process.execArgv, ...args, "--family", f], {
            stdio: ["ignore", "pipe", "pipe"],
          });
          running.add(child);
          let out = "";
          child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
          child.stderr!.setEncoding("utf8").on("data", (d: string) => {
            for (const l of d.split("\n")) if (l && !l.startsWith("fuzz (")) log(l);
          });
          const code = await new Promise<number | null>((r) => child.on("close", r));
          running.delete(child);
          const json = out.slice(out.indexOf("{"));
          let r: FamilyResult | undefined;
          try {
            r = (JSON.parse(json) as { results: FamilyResult[] }).results[0];
          } catch {}
          // A family whose campaign failed is reported; the other families go on.
          if (!r) failed.push(`${f}: the campaign process ended with ${code} and no summary`);
          else results.set(f, r);
        }
      }),
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    stop();
  }
  if (aborted) process.kill(process.pid, aborted);
  if (failed.length) throw new Error(failed.join("\n"));
  return o.families.map((f) => results.get(f)!);
}

export function summaryTable(results: readonly FamilyResult[]): string {
  const rows = [
    [
      "family",
      "execs",
      "seconds",
      "execs/s",
      "CPU ms/exec",
      "ok",
      "typed",
      "untyped",
      "time",
      "memory",
      "findings",
    ],
  ];
  for (const r of results)
    rows.push([
      r.family,
      String(r.execs),
      r.seconds.toFixed(0),
      (r.execs / Math.max(r.seconds, 0.001)).toFixed(0),
      ((r.cpuSeconds * 1000) / Math.max(r.execs, 1)).toFixed(2),
      String(r.counts.ok),
      String(r.counts.typed),
      String(r.counts.untyped),
      String(r.counts.time),
      String(r.counts.memory),
      String(r.findings.length),
    ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  "))
    .join("\n");
}

// ---------------------------------------------------------------------------------------------
// Replaying reproducers.

interface ReplayRow {
  path: string;
  command: string;
  exit: number;
  lines: number;
  contract: boolean;
  cpuMs: number;
  memoryMiB: number;
}

function findingDirs(dir: string): string[] {
  if (existsSync(join(dir, "finding.json"))) return [dir];
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => findingDirs(join(dir, d.name)));
}

async function replay(dir: string, budgets: Budgets): Promise<ReplayRow[]> {
  const { spawnSync } = await import("node:child_process");
  const rows: ReplayRow[] = [];
  for (const d of findingDirs(resolve(dir))) {
    const f = JSON.parse(readFileSync(join(d, "finding.json"), "utf8")) as {
      args: string[];
      command: string;
    };
    const args = f.args.map((a) => (a.startsWith("case") || a === "out.bin" ? join(d, a) : a));
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", new URL("./probe.ts", import.meta.url).pathname, JSON.stringify(args)],
      {
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    let j = { code: -1, err: r.error ? String(r.error) : r.stderr, cpuMs: 0, memoryBytes: 0 };
    try {
      j = JSON.parse(r.stdout.trim().split("\n").pop()!);
    } catch {}
    const lines = j.err.split("\n").filter((l: string) => l !== "");
    const contract =
      [0, 1, 2, 3, 4].includes(j.code) &&
      (j.code !== 2 || (lines.length === 1 && ERROR_LINE.test(lines[0]!))) &&
      (!budgets.timeMs || j.cpuMs <= budgets.timeMs) &&
      (!budgets.memoryBytes || j.memoryBytes <= budgets.memoryBytes);
    rows.push({
      path: d,
      command: f.command,
      exit: j.code,
      lines: lines.length,
      contract,
      cpuMs: Math.round(j.cpuMs),
      memoryMiB: Math.round(j.memoryBytes / 2 ** 20),
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Command line.

function parseArgs(argv: string[]): { o: CampaignOptions; list: boolean; json: boolean; replay?: string } {
  const fams: string[] = [];
  let seconds: number | undefined;
  let execs: number | undefined;
  let seed = 1;
  let out = join(tmpdir(), "sigframe-fuzz");
  let timeMs = 500;
  let memoryMb = 128;
  let jobs = 1;
  let level: Level = "command";
  let minimise = true;
  let list = false;
  let json = false;
  let replayDir: string | undefined;
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    if (a === "--family") fams.push(...(v() ?? "").split(",").filter(Boolean));
    else if (a === "--seconds") seconds = num(a, v());
    else if (a === "--execs") execs = num(a, v());
    else if (a === "--seed") seed = num(a, v());
    else if (a === "--out") out = resolve(v() ?? out);
    else if (a === "--time-budget") timeMs = num(a, v());
    else if (a === "--memory-budget") memoryMb = num(a, v());
    else if (a === "--jobs") jobs = num(a, v());
    else if (a === "--level") {
      const l = v() as Level;
      if (!LEVELS.includes(l)) throw new Error(`--level takes ${LEVELS.join(" or ")}`);
      level = l;
    } else if (a === "--no-minimise") minimise = false;
    else if (a === "--list") list = true;
    else if (a === "--json") json = true;
    else if (a === "--replay") replayDir = v();
    else throw new Error(`unknown option ${a} (see the comment at the top of fuzz/run.ts)`);
  }
  const families = fams.length ? fams : FAMILIES.map((f) => f.name);
  for (const f of families)
    if (!familyByName(f)) throw new Error(`no family ${f} (${FAMILIES.map((x) => x.name).join(", ")})`);
  if (seconds === undefined && execs === undefined) seconds = 60;
  const o: CampaignOptions = {
    families,
    seed,
    out,
    budgets: { timeMs, memoryBytes: memoryMb * 2 ** 20 },
    level,
    jobs: Math.min(jobs, Math.max(1, cpus().length)),
    minimise,
    hangCpuMs: Math.max(10_000, timeMs * 20),
    hangWallMs: 10 * 60_000,
    rssLimitBytes: process.memoryUsage.rss() + 1536 * 2 ** 20,
    heapMb: 1024,
  };
  if (seconds !== undefined) o.seconds = seconds;
  if (execs !== undefined) o.execs = execs;
  return { o, list, json, ...(replayDir !== undefined ? { replay: replayDir } : {}) };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const { o, list, json } = parsed;
  if (list) {
    for (const f of FAMILIES)
      process.stdout.write(
        `${f.name.padEnd(16)} ${String(f.seeds().length).padStart(3)} seeds  ${f.summary}\n`,
      );
    return;
  }
  if (parsed.replay !== undefined) {
    const rows = await replay(parsed.replay, o.budgets);
    for (const r of rows)
      process.stdout.write(
        `${r.contract ? "ok  " : "FAIL"}  exit ${r.exit}  ${r.lines} line(s)  ${r.cpuMs} ms  ${r.memoryMiB} MiB  ${r.command}\n`,
      );
    process.exitCode = rows.every((r) => r.contract) ? 0 : 1;
    return;
  }
  mkdirSync(o.out, { recursive: true });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(
    `fuzz (${o.level} level): ${o.families.join(", ")}; ${o.execs !== undefined ? `${o.execs} executions` : `${o.seconds} s`} per family, seed ${o.seed}, findings in ${o.out}`,
  );
  const results = o.jobs > 1 ? await runInProcesses(o, log) : await runCampaign({ ...o, log });
  const summary = {
    seed: o.seed,
    level: o.level,
    budgets: { timeMs: o.budgets.timeMs, memoryMiB: o.budgets.memoryBytes / 2 ** 20 },
    node: process.version,
    cpus: cpus()[0]?.model,
    results,
  };
  writeFileSync(join(o.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else process.stdout.write(`${summaryTable(results)}\n`);
  const bad = results.reduce((n, r) => n + r.findings.length, 0);
  process.exitCode = bad ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === new URL(import.meta.url).pathname) await main();
