/**
 * A tiny benchmark harness: each benchmark is measured next to a baseline in the same run, and
 * reported as a ratio, so numbers from different machines can be compared.
 */
export interface BenchResult {
  name: string;
  /** What one operation is. */
  unit: string;
  opsPerSecond: number;
  baseline: { name: string; opsPerSecond: number };
  /** opsPerSecond / baseline.opsPerSecond (or, for time-like benches, how many baselines fit). */
  ratio: number;
  note?: string;
}

/** Runs `fn` repeatedly for at least `minMs` and returns operations per second. */
export function measure(fn: () => unknown, minMs = 500): number {
  fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export async function measureAsync(fn: () => Promise<unknown>, minRuns = 5): Promise<number> {
  await fn();
  const start = performance.now();
  for (let i = 0; i < minRuns; i++) await fn();
  return (minRuns * 1000) / (performance.now() - start);
}
