/**
 * A campaign worker (a worker thread per family, under resource limits set by run.ts). Before each
 * execution it writes the case into shared memory, so that when the parent has to stop it (a hang,
 * runaway memory) the input is not lost. It reports progress and findings as messages; it minimises
 * and writes the reproducers of the findings it sees itself.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { type Budgets, type Case, type Finding, type Level, type Outcome, Runner } from "./engine.ts";
import { familyByName, REPO_ROOT } from "./families.ts";
import { decodeCase, SAB } from "./shared.ts";

export interface WorkerConfig {
  mode: "campaign" | "repro";
  family: string;
  seed: number;
  /** First execution number and how many to run (campaign). */
  start: number;
  execs: number;
  /** Stop after this wall-clock time (ms since epoch; 0 = no deadline). */
  deadline: number;
  budgets: Budgets;
  /** What an execution runs (engine.ts Level). */
  level: Level;
  /** Scratch folder for cases. */
  dir: string;
  /** Where reproducers go; "" = not written. */
  out: string;
  minimise: boolean;
  /** Signatures already reported (not reported again). */
  known: string[];
  sab: SharedArrayBuffer;
  /** repro mode: the case the parent recovered, and what happened to it. */
  repro?: { kind: "time" | "memory" | "untyped"; detail: string; exec: number };
}

export type WorkerMessage =
  | { type: "progress"; execs: number; cpuMs: number; counts: Record<string, number>; exec: number }
  | { type: "finding"; finding: FindingReport }
  | {
      type: "done";
      execs: number;
      cpuMs: number;
      counts: Record<string, number>;
      exec: number;
      restart: boolean;
    };

export interface FindingReport {
  family: string;
  kind: string;
  signature: string;
  detail: string;
  exec: number;
  path: string;
  command: string;
  bytes: number;
  minimisedFrom?: number;
}

const cfg = workerData as WorkerConfig;
const view = new SAB(cfg.sab);

function post(m: WorkerMessage): void {
  parentPort!.postMessage(m);
}

/** Runs a case in a fresh process (fuzz/probe.ts): its own CPU time and peak memory. */
export function probe(args: string[], timeoutMs: number): Outcome | undefined {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "fuzz", "probe.ts"), JSON.stringify(args)],
    {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: timeoutMs,
      maxBuffer: 1 << 20,
    },
  );
  if (r.error || r.status !== 0) return undefined;
  try {
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      code: number;
      err: string;
      cpuMs: number;
      memoryBytes: number;
    };
    return {
      kind: "ok",
      code: j.code,
      signature: "",
      detail: j.err,
      cpuMs: j.cpuMs,
      memoryBytes: j.memoryBytes,
    };
  } catch {
    return undefined;
  }
}

/** Writes a finding's case and what it did under `out/<family>/<id>/`. */
export function writeFinding(out: string, f: Finding): string {
  const id = hash(f.outcome.signature);
  const dir = resolve(out, f.family, `${f.outcome.kind}-${id}`);
  const caseDir = join(dir, "case");
  mkdirSync(caseDir, { recursive: true });
  for (const [n, b] of f.files) writeFileSync(join(caseDir, n), b);
  const rel = (a: string) =>
    a.startsWith(caseDir)
      ? `case${a.slice(caseDir.length)}`
      : a.startsWith(`${dir}/`)
        ? a.slice(dir.length + 1)
        : a;
  const command = `sigframe ${f.args.map((a) => rel(a)).join(" ")}`;
  writeFileSync(
    join(dir, "finding.json"),
    `${JSON.stringify(
      {
        family: f.family,
        outcome: f.outcome.kind,
        signature: f.outcome.signature,
        command,
        args: f.args.map(rel),
        exit: f.outcome.code,
        cpuMs: Math.round(f.outcome.cpuMs),
        memoryBytes: f.outcome.memoryBytes,
        exec: f.exec,
        seed: f.seedLabel,
        minimisedFrom: f.minimisedFrom,
        detail: f.outcome.detail,
      },
      null,
      2,
    )}\n`,
  );
  return dir;
}

function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** Rewrites `args` from the runner's scratch folder to the reproducer's case folder. */
function relocate(runner: Runner, c: Case, args: string[], caseDir: string): string[] {
  const from = runner.seedDir(c.seed);
  const out = runner.paths(c).output;
  return args.map((a) =>
    a === out ? join(caseDir, "..", "out.bin") : a.startsWith(from) ? caseDir + a.slice(from.length) : a,
  );
}

async function handleFinding(
  runner: Runner,
  n: number,
  c: Case,
  o: Outcome,
  known: Set<string>,
): Promise<void> {
  if (known.has(o.signature)) return;
  known.add(o.signature);
  let best = c;
  let outcome = o;
  if (cfg.minimise) {
    if (o.kind === "untyped") {
      best = await runner.minimise(c, (x) => x.signature === o.signature, 400);
      const again = await runner.execute(best);
      if (again.signature === o.signature) outcome = again;
    } else best = await minimiseByProbe(runner, c, o);
  }
  report(runner, n, best, outcome, c.bytes.length);
}

/** Writes the finding's reproducer (where an output folder is set) and tells the parent. */
function report(runner: Runner, n: number, c: Case, o: Outcome, originalSize: number): void {
  const seed = runner.seeds[c.seed]!;
  const f: Finding = {
    family: runner.family.name,
    exec: n,
    outcome: o,
    args: [],
    files: runner.caseFiles(c),
    main: seed.main ?? "",
    seedLabel: seed.label,
  };
  if (c.bytes.length !== originalSize) f.minimisedFrom = originalSize;
  const { args } = runner.paths(c);
  let path = "";
  if (cfg.out) {
    const caseDir = resolve(cfg.out, f.family, `${o.kind}-${hash(o.signature)}`, "case");
    f.args = relocate(runner, c, args, caseDir);
    path = writeFinding(cfg.out, f);
  } else f.args = args;
  post({
    type: "finding",
    finding: {
      family: f.family,
      kind: o.kind,
      signature: o.signature,
      detail: o.detail.split("\n").slice(0, 6).join("\n"),
      exec: n,
      path,
      command: `sigframe ${f.args.join(" ")}`,
      bytes: c.bytes.length,
      ...(f.minimisedFrom !== undefined ? { minimisedFrom: f.minimisedFrom } : {}),
    },
  });
}

/** Shrinks a time or memory finding, each candidate measured in a process of its own. */
async function minimiseByProbe(runner: Runner, c: Case, o: Outcome): Promise<Case> {
  const still = (x: Outcome | undefined) =>
    x !== undefined &&
    (o.kind === "time" ? x.cpuMs > cfg.budgets.timeMs : x.memoryBytes > cfg.budgets.memoryBytes);
  let best = c;
  const limit = Math.max(10_000, cfg.budgets.timeMs * 20);
  for (let attempt = 0, chunk = best.bytes.length >> 1; attempt < 24 && chunk >= 64; attempt++) {
    const b = best.bytes;
    // A cut that was kept made the input shorter than the chunk: halve from what is left.
    if (chunk >= b.length) {
      chunk = b.length >> 1;
      continue;
    }
    const at = attempt % 2 === 0 ? b.length - chunk : 0;
    const cut = new Uint8Array(b.length - chunk);
    cut.set(b.subarray(0, at));
    cut.set(b.subarray(at + chunk), at);
    const cand: Case = { ...best, bytes: cut };
    runner.materialise(cand);
    const r = probe(runner.paths(cand).args, limit);
    if (still(r)) best = cand;
    else chunk >>= 1;
  }
  return best;
}

/** The family's runner as the parent configured it. */
function newRunner(): Runner {
  return new Runner({
    family: familyByName(cfg.family)!,
    seed: cfg.seed,
    dir: cfg.dir,
    budgets: cfg.budgets,
    level: cfg.level,
  });
}

async function campaign(): Promise<void> {
  const runner = newRunner();
  const known = new Set(cfg.known);
  let last = Date.now();
  let n = cfg.start;
  let restart = false;
  const end = cfg.start + cfg.execs;
  try {
    for (; n < end; n++) {
      if (cfg.deadline && Date.now() > cfg.deadline) break;
      const { c, o } = await runner.step(n, (x) => view.publish(n, x));
      view.idle();
      if (o.kind === "untyped" || o.kind === "time" || o.kind === "memory") {
        await handleFinding(runner, n, c, o, known);
        if (o.kind === "memory") {
          // The process's peak is now this execution's: a fresh worker measures the next ones.
          n++;
          restart = true;
          break;
        }
      }
      if (Date.now() - last > 500) {
        last = Date.now();
        post({
          type: "progress",
          execs: runner.execs,
          cpuMs: runner.cpuMs,
          counts: { ...runner.counts },
          exec: n,
        });
      }
    }
  } finally {
    runner.close();
  }
  post({
    type: "done",
    execs: runner.execs,
    cpuMs: runner.cpuMs,
    counts: { ...runner.counts },
    exec: n,
    restart,
  });
}

/** Writes the reproducer of a case the parent recovered from shared memory (a hang, runaway memory). */
async function repro(): Promise<void> {
  const runner = newRunner();
  try {
    const c = decodeCase(view);
    if (!c) return;
    const r = cfg.repro!;
    let best = c;
    const o: Outcome = {
      kind: r.kind,
      code: -1,
      signature: `${r.kind}: ${runner.template(c).slice(0, 2).join(" ")}: stopped (${r.detail})`,
      detail: r.detail,
      cpuMs: 0,
      memoryBytes: 0,
    };
    if (cfg.minimise && r.kind !== "untyped") best = await minimiseByProbe(runner, c, o);
    if (!new Set(cfg.known).has(o.signature)) report(runner, r.exec, best, o, c.bytes.length);
  } finally {
    runner.close();
  }
  post({ type: "done", execs: 0, cpuMs: 0, counts: {}, exec: cfg.start, restart: false });
}

if (cfg.mode === "repro") await repro();
else await campaign();
