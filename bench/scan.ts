/**
 * Scanner speed against `grep -c -aF SXPF` on the same file, the memory-speed anchor (it reads
 * every byte and searches it with memchr and a skip table). Two views:
 * - in-process throughput (MB/s) of open + parse + scan, for the largest fixture core and a
 *   synthetic raw image, in the default mode and with --all (every alignment);
 * - whole processes: `sigframe scan` of a 256 MiB raw image against a grep process (bench/startup.ts
 *   reports these with the other whole-process ratios).
 * The synthetic image is random bytes with the fixtures' real frames planted at their own
 * addresses (so they are found as frames) and stray magic1 dwords at every alignment. Both sides
 * read the file from the page cache (warm-up runs go first). grep writes its count to a file: on
 * /dev/null GNU grep stops at the first match.
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
import type { ProcessCommand } from "./process.ts";
import { type ProcessRatio, ratios, sigframe } from "./startup.ts";

const MB = 1e6;
export const SYNTHETIC_BYTES = 256 * 2 ** 20;
const GREP = ["grep", "-c", "-aF", "SXPF"];

/** Seconds per run, best of `runs` (after one warm-up). */
async function best(fn: () => unknown, runs: number): Promise<number> {
  await fn();
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    min = Math.min(min, (performance.now() - t0) / 1000);
  }
  return min;
}

function haveGrep(file: string): boolean {
  const probe = spawnSync(GREP[0]!, [...GREP.slice(1), file], { stdio: ["ignore", "pipe", "ignore"] });
  return !probe.error && (probe.status === 0 || probe.status === 1);
}

function grepSeconds(file: string, out: string, runs: number): Promise<number> {
  return best(() => {
    const fd = openSync(out, "w");
    try {
      spawnSync(GREP[0]!, [...GREP.slice(1), file], { stdio: ["ignore", fd, "ignore"] });
    } finally {
      closeSync(fd);
    }
  }, runs);
}

function scanSeconds(
  file: string,
  runs: number,
  opts: { base?: bigint; all?: boolean } = {},
): Promise<number> {
  return best(async () => {
    const t = await openScanTarget(file, opts.base === undefined ? {} : { base: opts.base });
    try {
      scanTarget(t, opts.all ? { all: true } : {});
    } finally {
      t.close();
    }
  }, runs);
}

export interface SyntheticImage {
  file: string;
  /** Virtual address of its first byte. */
  base: bigint;
  dir: string;
  /** Frames planted at their own addresses. */
  frames: number;
  remove(): void;
}

/**
 * A raw image of `size` bytes: xorshift filler, 64 stray magic1 dwords per 4 MiB at every
 * alignment, and the fixtures' frames (S3's nested frames, S2's, S4's…) each planted once at its
 * own address, with the image's base chosen so that they all fall inside it where possible.
 */
export function writeSynthetic(size = SYNTHETIC_BYTES): SyntheticImage {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-bench-"));
  const file = join(dir, "synthetic.raw");
  const frames: { addr: bigint; bytes: Uint8Array }[] = [];
  if (existsSync(FIXTURES)) {
    for (const s of ["S2", "S3", "S4", "S5", "S7"]) {
      const tr = JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
      for (const th of tr.threads)
        for (const f of th.frames)
          frames.push({ addr: BigInt(f.frame_addr), bytes: hexToBytes(f.frame_bytes_hex) });
    }
  }
  // The first frame sits in the middle of the image; others are planted where their address falls.
  const mid = BigInt(size / 2);
  const base = frames.length ? (frames[0]!.addr - mid) & ~0xfffn : 0x7f0000000000n;
  const fd = openSync(file, "w");
  let planted = 0;
  try {
    const block = 4 * 2 ** 20;
    const buf = new Uint8Array(block);
    const w = new Uint32Array(buf.buffer);
    let seed = 0x9e3779b9;
    for (let off = 0; off < size; off += block) {
      for (let i = 0; i < w.length; i++) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        w[i] = seed >>> 0;
      }
      for (let k = 0; k < 64; k++) buf.set([0x53, 0x58, 0x50, 0x46], (k * 65497 + off / block) % (block - 4));
      const lo = base + BigInt(off);
      const hi = lo + BigInt(block);
      for (const f of frames) {
        if (f.addr >= lo && f.addr + BigInt(f.bytes.length) <= hi) {
          buf.set(f.bytes, Number(f.addr - lo));
          planted++;
        }
      }
      writeSync(fd, buf, 0, Math.min(block, size - off));
    }
  } finally {
    closeSync(fd);
  }
  return { file, base, dir, frames: planted, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** In-process scanner throughput next to a grep process, on the same files. */
export async function benchScan(img: SyntheticImage): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const grepName = "grep -c -aF SXPF (same file)";
  const grepOut = join(img.dir, "grep.out");
  if (!haveGrep(img.file)) return out;
  if (existsSync(FIXTURES)) {
    const cores = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"].flatMap((s) => [
      join(FIXTURES, "core", `${s}.core`),
      join(FIXTURES, "core", `${s}.kernel.core`),
    ]);
    const largest = cores.filter(existsSync).sort((a, b) => statSync(b).size - statSync(a).size)[0];
    if (largest) {
      const size = statSync(largest).size;
      const ours = await scanSeconds(largest, 20);
      const grep = await grepSeconds(largest, grepOut, 20);
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
  const grep = await grepSeconds(img.file, grepOut, 3);
  for (const all of [false, true]) {
    const ours = await scanSeconds(img.file, 3, { base: img.base, all });
    out.push({
      name: `scan, synthetic raw image${all ? " (--all: every alignment)" : ""}`,
      unit: "MB",
      opsPerSecond: SYNTHETIC_BYTES / MB / ours,
      baseline: { name: grepName, opsPerSecond: SYNTHETIC_BYTES / MB / grep },
      ratio: grep / ours,
      note: `${SYNTHETIC_BYTES / 2 ** 20} MiB, page cache warm, in-process`,
    });
  }
  return out;
}

/** Whole processes: `sigframe scan` (default and --all) against a grep process on the image. */
export function scanProcessRatios(img: SyntheticImage, env: NodeJS.ProcessEnv, runs: number): ProcessRatio[] {
  if (!haveGrep(img.file)) return [];
  const base = `0x${img.base.toString(16)}`;
  const grep: ProcessCommand = {
    label: `grep -c -aF SXPF IMG > FILE`,
    argv: [...GREP, img.file],
    stdoutFile: join(img.dir, "grep.out"),
    env,
    ok: [0, 1],
  };
  const mib = SYNTHETIC_BYTES / 2 ** 20;
  return ratios(
    [
      {
        name: `sigframe scan (${mib} MiB raw image)`,
        ours: {
          label: `sigframe scan IMG --base ${base}`,
          argv: sigframe("scan", img.file, "--base", base),
          stdoutFile: join(img.dir, "scan.out"),
          env,
        },
        baseline: grep,
        target: 1.0,
      },
      {
        name: `sigframe scan --all (${mib} MiB raw image)`,
        ours: {
          label: `sigframe scan IMG --base ${base} --all`,
          argv: sigframe("scan", img.file, "--base", base, "--all"),
          stdoutFile: join(img.dir, "scan-all.out"),
          env,
        },
        baseline: grep,
      },
    ],
    runs,
  );
}
