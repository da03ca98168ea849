/**
 * `npm run bench`: every benchmark with its same-run baseline; `--write` refreshes bench/RESULTS.md.
 */
import { writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../test/helpers/shared.ts";
import type { BenchResult } from "./harness.ts";
import { benchLayouts, benchStartup } from "./layout.ts";
import { benchMatrix } from "./matrix.ts";
import { benchScan } from "./scan.ts";

type Bench = () => BenchResult[] | Promise<BenchResult[]>;
const benches: Bench[] = [benchLayouts, benchStartup, benchMatrix, benchScan];

const results: BenchResult[] = [];
for (const b of benches) results.push(...(await b()));

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const lines = [
  "| benchmark | unit | ops/s | baseline | baseline ops/s | ratio | note |",
  "|---|---|---:|---|---:|---:|---|",
  ...results.map(
    (r) =>
      `| ${r.name} | ${r.unit} | ${fmt(r.opsPerSecond)} | ${r.baseline.name} | ${fmt(r.baseline.opsPerSecond)} | ${r.ratio.toFixed(3)} | ${r.note ?? ""} |`,
  ),
];
console.log(lines.join("\n"));

if (process.argv.includes("--write")) {
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
  const doc = [
    "# Benchmark results",
    "",
    "`npm run bench` (add `-- --write` to refresh this file). Each benchmark runs next to a baseline in the",
    "same process and run; the ratio is what carries across machines.",
    "",
    `Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    "",
    ...lines,
    "",
  ];
  writeFileSync(join(REPO_ROOT, "bench", "RESULTS.md"), doc.join("\n"));
}
