/**
 * `npm run bench`: every benchmark with its same-run baseline. `-- --write` refreshes
 * bench/RESULTS.md; `-- --runs N` sets the interleaved runs per whole-process command (default 15).
 *
 * Two tables: in-process throughput ratios (ours / baseline per second: higher is better), and
 * whole-process ratios (median wall time, ours / baseline: lower is better). When the environment
 * sets NODE_EXTRA_CA_CERTS, Node parses that CA file before it runs a line of JavaScript, in every
 * node process (`node -e 0` too); the whole-process table is then also measured without it, for
 * every command alike.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { basename, join } from "node:path";
import { bundledCli } from "../test/helpers/cli-bundle.ts";
import { REPO_ROOT } from "../test/helpers/shared.ts";
import { abiTestTiming } from "./abi-test.ts";
import { archiveProcessRatios, writeBenchArchive } from "./archive.ts";
import type { BenchResult } from "./harness.ts";
import { benchLayouts } from "./layout.ts";
import { benchMatrix } from "./matrix.ts";
import { benchScan, scanProcessRatios, writeSynthetic } from "./scan.ts";
import { criuRatios, type ProcessRatio, startupRatios } from "./startup.ts";

const argv = process.argv.slice(2);
const runsAt = argv.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(argv[runsAt + 1]) : 15;
if (!(RUNS >= 3)) throw new Error("--runs takes a number of at least 3");

bundledCli();
const load0 = loadavg()[0]!;
const img = writeSynthetic();
console.error("building the 1 GiB zstd checkpoint archive (tar, zstd -3)…");
const archive = writeBenchArchive();
const lines: string[] = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};

try {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const inProcess: BenchResult[] = [...benchLayouts(), ...benchMatrix(), ...(await benchScan(img))];
  say("## In-process ratios (ours / baseline per second: higher is better)");
  say();
  say("| benchmark | unit | ops/s | baseline | baseline ops/s | ratio | note |");
  say("|---|---|---:|---|---:|---:|---|");
  for (const r of inProcess)
    say(
      `| ${r.name} | ${r.unit} | ${fmt(r.opsPerSecond)} | ${r.baseline.name} | ${fmt(r.baseline.opsPerSecond)} | ${r.ratio.toFixed(3)} | ${r.note ?? ""} |`,
    );

  const envs: { title: string; env: NodeJS.ProcessEnv }[] = [];
  if (process.env.NODE_EXTRA_CA_CERTS) {
    envs.push({ title: "environment as given (NODE_EXTRA_CA_CERTS set)", env: process.env });
    const clean = { ...process.env };
    delete clean.NODE_EXTRA_CA_CERTS;
    envs.push({ title: "without NODE_EXTRA_CA_CERTS (every command alike)", env: clean });
  } else envs.push({ title: "environment as given", env: process.env });

  const targets: { title: string; rows: ProcessRatio[] }[] = [];
  for (const { title, env } of envs) {
    const before = loadavg()[0]!;
    const rows: ProcessRatio[] = [
      ...startupRatios(env, RUNS),
      ...criuRatios(env, RUNS),
      ...scanProcessRatios(img, env, Math.max(3, Math.round(RUNS / 2))),
      ...(archive ? archiveProcessRatios(archive, env, Math.max(3, Math.round(RUNS / 3))) : []),
    ];
    targets.push({ title, rows: rows.filter((r) => r.target !== undefined) });
    say();
    say(`## Whole processes, ${title}`);
    say();
    say(
      `Median wall time of interleaved runs (ratio = ours / baseline: lower is better); mean CPU time (user + system) beside it. Load average ${before.toFixed(1)} before these runs, ${loadavg()[0]!.toFixed(1)} after (${cpus().length} cores).`,
    );
    say();
    say(
      "| ours | baseline | runs | ours ms | baseline ms | ratio | target | CPU ms (ours / baseline) | CPU ratio |",
    );
    say("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of rows) {
      const met = r.target === undefined ? "" : `${r.ratio <= r.target ? "✓" : "✗"} ≤ ${r.target}`;
      say(
        `| ${r.name} | ${r.baseline.label} | ${r.ours.runs} | ${r.ours.wallMs.toFixed(1)} | ${r.baseline.wallMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${met} | ${r.ours.cpuMs.toFixed(1)} / ${r.baseline.cpuMs.toFixed(1)} | ${r.cpuRatio.toFixed(2)} |`,
      );
    }
  }

  // The targets at a glance: per table, each target's worst row (criu show: the worst kind).
  say();
  say("## Targets");
  say();
  say("| target | " + targets.map((t) => `${t.title}: wall ratio (CPU ratio)`).join(" | ") + " |");
  say(`|---|${targets.map(() => "---:").join("|")}|`);
  const groups = [
    { name: "sigframe --version ≤ 1.3× node -e 0", is: (r: ProcessRatio) => r.name === "sigframe --version" },
    {
      name: "sigframe layout amd-zen4 --json ≤ 1.6× node -e 0",
      is: (r: ProcessRatio) => r.name.startsWith("sigframe layout"),
    },
    {
      name: "criu show ≤ 0.8× crit decode (worst image kind)",
      is: (r: ProcessRatio) => r.name.startsWith("criu show"),
    },
    {
      name: "scan 256 MiB raw ≤ 1.0× grep -c -aF",
      is: (r: ProcessRatio) => r.name.startsWith("sigframe scan (256"),
    },
  ];
  for (const g of groups) {
    const cells = targets.map((t) => {
      const rows = t.rows.filter(g.is);
      if (!rows.length) return "not measured";
      const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
      const cpu = Math.max(...rows.map((r) => r.cpuRatio));
      return `${worst.ratio <= worst.target! ? "✓" : "✗"} ${worst.ratio.toFixed(2)} (${cpu.toFixed(2)})`;
    });
    say(`| ${g.name} | ${cells.join(" | ")} |`);
  }

  // Boots a kernel: 3 interleaved runs of some 10-20 s each (--runs 15 gives 3).
  // A run that fails (a guest that does not boot on a busy machine) is reported, not fatal: the
  // other rows still reach RESULTS.md.
  let abi: ReturnType<typeof abiTestTiming>;
  try {
    abi = abiTestTiming(process.env, Math.max(3, Math.round(RUNS / 5)));
  } catch (e) {
    abi = `a run failed: ${String((e as Error).message ?? e)
      .split("\n")[0]!
      .replace(/\/\S*\//g, "")}`;
  }
  say();
  say("## abi-test: one boot of a distribution kernel with every case, under TCG");
  say();
  if (typeof abi === "string") say(`Not measured: ${abi}.`);
  else {
    say(
      `Kernel ${basename(abi.kernel)}; median wall time of interleaved runs, the whole \`sigframe abi-test\` process against QEMU booting the same kernel's bzImage to its first userspace step (no init: it panics and QEMU ends).`,
    );
    say();
    say("| ours | baseline | runs | ours s | baseline s | ratio | target | CPU s (ours / baseline) |");
    say("|---|---|---:|---:|---:|---:|---:|---:|");
    const s = (ms: number) => (ms / 1000).toFixed(1);
    const met = abi.ours.wallMs / 1000 < abi.target ? "✓" : "✗";
    say(
      `| ${abi.ours.label} | ${abi.baseline.label} | ${abi.ours.runs} | ${s(abi.ours.wallMs)} | ${s(abi.baseline.wallMs)} | ${abi.ratio.toFixed(2)} | ${met} < ${abi.target} s | ${s(abi.ours.cpuMs)} / ${s(abi.baseline.cpuMs)} |`,
    );
  }
} finally {
  img.remove();
  archive?.remove();
}

const NOTES_MARKER = "<!-- notes below are kept by npm run bench -- --write -->";

if (argv.includes("--write")) {
  const version = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, { encoding: "utf8" }).stdout?.split("\n")[0]?.trim() || "not installed";
  const machine = [
    `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `Linux ${release()}, Node ${process.version}`,
    `${version("grep", ["--version"])}, crit from Debian criu ${version("dpkg-query", ["-W", "-f", "$" + "{Version}", "criu"])}`,
    `load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`,
  ].join("; ");
  const doc = [
    "# Benchmark results",
    "",
    "`npm run bench` (add `-- --write` to refresh this file, `-- --runs N` for more runs). Each",
    "benchmark runs next to its baseline in the same run; the ratio is what carries across machines.",
    "Whole-process rows run the installed command (`bin/sigframe.js`, the CLI bundle) and the",
    "baseline interleaved, one of each per round, and compare medians.",
    "",
    `Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    "",
    ...lines,
    "",
  ];
  // Hand-written notes below the marker (measurements made by hand, history) are kept.
  const file = join(REPO_ROOT, "bench", "RESULTS.md");
  const old = existsSync(file) ? readFileSync(file, "utf8") : "";
  const at = old.indexOf(NOTES_MARKER);
  if (at >= 0) doc.push(old.slice(at).trimEnd(), "");
  writeFileSync(file, doc.join("\n"));
}
