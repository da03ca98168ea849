/** Layouts of every corpus profile per second (CLI start-up is a whole-process ratio: startup.ts). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { profileFromBytes } from "../src/core/profiles/detect.ts";
import { computeLayout } from "../src/core/xsave/layout.ts";
import { CORPUS } from "../test/helpers/shared.ts";
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
