/**
 * Scanner throughput (MB/s) against `grep -c -aF` for the magic1 bytes on the same file, the
 * physical-limit anchor (it reads every byte with a tuned memchr/Boyer-Moore loop):
 * - the largest fixture image (an ELF core; small, so per-run costs weigh in on both sides);
 * - a synthetic raw image of several hundred MB (random bytes, real frames and stray magic1s
 *   planted), generated here, scanned in the default mode and with --all (every alignment).
 * Both sides read the file from the page cache (a warm-up run goes first). grep's stdout is a pipe:
 * GNU grep stops at the first match when it writes to /dev/null.
 */
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexToBytes } from "../src/core/hex.ts";
import { scanTarget } from "../src/core/scan/targets.ts";
import { openScanTarget } from "../src/node/scan-target.ts";
import { FIXTURES } from "../test/helpers/shared.ts";
import type { BenchResult } from "./harness.ts";

const MB = 1e6;
const SYNTHETIC_BYTES = 512 * 2 ** 20;

/** Seconds per run, best of `runs` (after one warm-up). */
function best(fn: () => void, runs: number): number {
  fn();
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, (performance.now() - t0) / 1000);
  }
  return min;
}

function grepSeconds(file: string, runs: number): number | undefined {
  const probe = spawnSync("grep", ["-c", "-aF", "SXPF", file], { stdio: ["ignore", "pipe", "ignore"] });
  if (probe.error || (probe.status !== 0 && probe.status !== 1)) return undefined;
  return best(() => {
    spawnSync("grep", ["-c", "-aF", "SXPF", file], { stdio: ["ignore", "pipe", "ignore"] });
  }, runs);
}

function scanSeconds(file: string, runs: number, opts: { base?: bigint; all?: boolean } = {}): number {
  return best(() => {
    const t = openScanTarget(file, opts.base === undefined ? {} : { base: opts.base });
    try {
      scanTarget(t, opts.all ? { all: true } : {});
    } finally {
      t.close();
    }
  }, runs);
}

/** A raw image: random bytes with real frames (from the fixtures' truth) and stray magic1s planted. */
function writeSynthetic(file: string, size: number, frames: Uint8Array[]): void {
  const fd = openSync(file, "w");
  try {
    const block = 4 * 2 ** 20;
    const buf = new Uint8Array(block);
    let seed = 0x9e3779b9;
    for (let off = 0; off < size; off += block) {
      // xorshift32: fast, deterministic filler.
      const w = new Uint32Array(buf.buffer);
      for (let i = 0; i < w.length; i++) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        w[i] = seed >>> 0;
      }
      for (let k = 0; k < 64; k++) buf.set([0x53, 0x58, 0x50, 0x46], (k * 65497) % (block - 4));
      const f = frames[(off / block) % frames.length];
      if (f) buf.set(f, 8192 + 8);
      writeSync(fd, buf, 0, Math.min(block, size - off));
    }
  } finally {
    closeSync(fd);
  }
}

export async function benchScan(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const grepName = "grep -c -aF SXPF (same file)";
  if (existsSync(FIXTURES)) {
    const cores = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"].flatMap((s) => [
      join(FIXTURES, "core", `${s}.core`),
      join(FIXTURES, "core", `${s}.kernel.core`),
    ]);
    const largest = cores.filter(existsSync).sort((a, b) => statSync(b).size - statSync(a).size)[0];
    if (largest) {
      const size = statSync(largest).size;
      const ours = scanSeconds(largest, 20);
      const grep = grepSeconds(largest, 20);
      if (grep !== undefined)
        out.push({
          name: "scan, largest fixture (ELF core)",
          unit: "MB",
          opsPerSecond: size / MB / ours,
          baseline: { name: grepName, opsPerSecond: size / MB / grep },
          ratio: grep / ours,
          note: `${(size / MB).toFixed(2)} MB, open + parse + scan in-process vs a grep process`,
        });
    }
  }

  const dir = mkdtempSync(join(tmpdir(), "sigframe-bench-"));
  try {
    const file = join(dir, "synthetic.raw");
    const frames: Uint8Array[] = [];
    if (existsSync(FIXTURES)) {
      const tr = JSON.parse(readFileSync(join(FIXTURES, "truth", "S3.json"), "utf8"));
      for (const f of tr.threads[0].frames) frames.push(hexToBytes(f.frame_bytes_hex));
    }
    writeSynthetic(file, SYNTHETIC_BYTES, frames);
    const base = 0x7f0000000000n;
    const grep = grepSeconds(file, 3);
    if (grep !== undefined) {
      for (const all of [false, true]) {
        const ours = scanSeconds(file, 3, { base, all });
        out.push({
          name: `scan, synthetic raw image${all ? " (--all: every alignment)" : ""}`,
          unit: "MB",
          opsPerSecond: SYNTHETIC_BYTES / MB / ours,
          baseline: { name: grepName, opsPerSecond: SYNTHETIC_BYTES / MB / grep },
          ratio: grep / ours,
          note: `${SYNTHETIC_BYTES / 2 ** 20} MiB, page cache warm`,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
