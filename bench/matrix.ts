/**
 * `matrix` over the whole CPUID corpus. The baseline, measured in the same run, computes every
 * profile's layout once (what any matrix must do at least); the ratio says how much the N×N
 * verdicts cost on top of that.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { matrix } from "../src/core/compat/index.ts";
import type { Profile } from "../src/core/profile.ts";
import { profileFromBytes } from "../src/core/profiles/detect.ts";
import { predict } from "../src/core/sigreturn/index.ts";
import { computeLayout } from "../src/core/xsave/layout.ts";
import { CORPUS } from "../test/helpers/shared.ts";
import type { BenchResult } from "./harness.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => void, runs: number): number {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    out.push((performance.now() - t0) / 1000);
  }
  return median(out);
}

/** One run = the verdicts for every ordered pair of corpus profiles (ops/s = matrices per second). */
export function benchMatrix(runs = 5): BenchResult[] {
  const profiles: Profile[] = readdirSync(CORPUS)
    .filter((f) => f.endsWith(".json") && f !== "index.json" && f !== "conversion-log.json")
    .map((f) => profileFromBytes(readFileSync(join(CORPUS, f)), f));
  const baselineSeconds = time(() => {
    for (const p of profiles) computeLayout(p);
  }, runs);
  const seconds = time(() => {
    matrix(
      profiles.map((p) => ({ name: p.name, layout: computeLayout(p) })),
      { predict },
    );
  }, runs);
  const n = profiles.length;
  return [
    {
      name: "matrix (whole corpus, all policies)",
      unit: `${n}×${n} verdicts`,
      opsPerSecond: 1 / seconds,
      baseline: { name: `layouts of ${n} profiles`, opsPerSecond: 1 / baselineSeconds },
      ratio: 1 / seconds / (1 / baselineSeconds),
      note: `${(seconds * 1000).toFixed(0)} ms per matrix, ${n * n} host pairs; layouts grouped first`,
    },
  ];
}
