/** Layouts of every corpus profile per second, and CLI start-up against `node -e 0`. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { profileFromBytes } from "../src/core/profiles/detect.ts";
import { computeLayout } from "../src/core/xsave/layout.ts";
import { CORPUS, REPO_ROOT } from "../test/helpers/shared.ts";
import { type BenchResult, measure } from "./harness.ts";

export function benchLayouts(): BenchResult[] {
  if (!existsSync(CORPUS)) return [];
  const files = readdirSync(CORPUS).filter(
    (f) => f.endsWith(".json") && f !== "index.json" && f !== "conversion-log.json",
  );
  const raw = files.map((f) => readFileSync(join(CORPUS, f)));
  const profiles = raw.map((b, i) => profileFromBytes(b, files[i]!));
  // Baseline: parsing the same JSON text, the floor of any work on these files.
  const parse = measure(() => {
    for (const b of raw) JSON.parse(b.toString("utf8"));
  });
  const layouts = measure(() => {
    for (const p of profiles) computeLayout(p);
  });
  return [
    {
      name: "layout engine",
      unit: `all ${profiles.length} corpus profiles`,
      opsPerSecond: layouts,
      baseline: { name: "JSON.parse of the same files", opsPerSecond: parse },
      ratio: layouts / parse,
      note: `${Math.round(layouts * profiles.length)} layouts/s`,
    },
  ];
}

export function benchStartup(): BenchResult[] {
  const bin = join(REPO_ROOT, "bin", "sigframe.js");
  if (!existsSync(join(REPO_ROOT, "dist", "bundle", "sigframe.js"))) return [];
  const time = (args: string[]) => {
    const runs = 10;
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) spawnSync(process.execPath, args, { stdio: "ignore" });
    return (runs * 1000) / (performance.now() - t0);
  };
  const node = time(["-e", "0"]);
  const cli = time([bin, "--version"]);
  const layout = time([bin, "layout", "intel-icelake-server", "--json"]);
  return [
    {
      name: "CLI start-up (--version)",
      unit: "process",
      opsPerSecond: cli,
      baseline: { name: "node -e 0", opsPerSecond: node },
      ratio: cli / node,
    },
    {
      name: "CLI layout (built-in profile, --json)",
      unit: "process",
      opsPerSecond: layout,
      baseline: { name: "node -e 0", opsPerSecond: node },
      ratio: layout / node,
    },
  ];
}
