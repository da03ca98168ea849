/**
 * A 1 GiB zstd checkpoint archive, as Podman exports one (`podman container checkpoint --export`,
 * zstd by default), scanned by the whole `sigframe scan` process against the memory-speed anchor
 * on the same file: `zstd -dc FILE | grep -c -aF SXPF` (Debian's zstd and grep, two processes).
 * The target: at least half the baseline's speed, i.e. a wall-time ratio of at most 2.
 *
 * The archive is built at bench time: a process made by the test helpers with a live frame on its
 * stack (its images, compel's dump.log lines, config.dump, spec.dump), and a second process whose
 * 1 GiB heap is written page by page as memory looks (a quarter zero pages, the rest text-like,
 * pointer-like and random bytes, so that zstd has real work), tarred in Podman's order and
 * compressed with `zstd -3`.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mm_entrySchema } from "../src/core/criu/gen/mm_pb.ts";
import { pagemap_entrySchema, pagemap_headSchema } from "../src/core/criu/gen/pagemap_pb.ts";
import { pstree_entrySchema } from "../src/core/criu/gen/pstree_pb.ts";
import { PE_PRESENT } from "../src/core/criu/memory.ts";
import { builtinProfile } from "../src/core/profiles/detect.ts";
import { computeLayout } from "../src/core/xsave/layout.ts";
import { compelDumpLog, concatImages, criuImages, image } from "../test/helpers/criu-checkpoint.ts";
import { simulate } from "../test/helpers/process-core.ts";
import type { ProcessCommand } from "./process.ts";
import { type ProcessRatio, ratios, sigframe } from "./startup.ts";

export const ARCHIVE_HEAP_BYTES = 2 ** 30;

export interface BenchArchive {
  file: string;
  dir: string;
  /** Compressed size. */
  bytes: number;
  remove(): void;
}

const has = (tool: string) => !spawnSync(tool, ["--version"]).error;

/** The heap's pages: a quarter zero, the rest text-like, pointer-like or random (xorshift). */
function writeHeap(path: string, size: number): void {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  // Text pages are 4 KiB slices of a 1 MiB corpus of words, at random offsets.
  const words = "the of and to in is that for it as with was on be by this sigframe xsave state ".split(" ");
  const corpus = new Uint8Array(1 << 20);
  for (let i = 0; i < corpus.length; ) {
    const w = words[next() % words.length]!;
    for (let k = 0; k < w.length && i < corpus.length; k++) corpus[i++] = w.charCodeAt(k);
    if (i < corpus.length) corpus[i++] = 0x20;
  }
  const fd = openSync(path, "w");
  try {
    const block = 4 * 2 ** 20;
    const buf = new Uint8Array(block);
    const w = new Uint32Array(buf.buffer);
    for (let off = 0; off < size; off += block) {
      for (let page = 0; page < block / 4096; page++) {
        const p = page * 4096;
        const kind = next() & 3;
        if (kind === 0) buf.fill(0, p, p + 4096);
        else if (kind === 1) {
          const from = next() % (corpus.length - 4096);
          buf.set(corpus.subarray(from, from + 4096), p);
        } else if (kind === 2) {
          // Pointers into a heap: 0x5555_5555_xxxx_xxx0.
          for (let i = p / 4; i < (p + 4096) / 4; i += 2) {
            w[i] = (0x55550000 + (next() & 0xffff0)) >>> 0;
            w[i + 1] = 0x5555;
          }
        } else for (let i = p / 4; i < (p + 4096) / 4; i++) w[i] = next();
      }
      writeSync(fd, buf, 0, Math.min(block, size - off));
    }
  } finally {
    closeSync(fd);
  }
}

/** Builds the archive; undefined when tar or zstd is not installed. */
export function writeBenchArchive(heapBytes = ARCHIVE_HEAP_BYTES): BenchArchive | undefined {
  if (!has("tar") || !has("zstd")) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "sigframe-bench-archive-"));
  const root = join(dir, "ctr");
  const cp = join(root, "checkpoint");
  mkdirSync(cp, { recursive: true });
  // Process 1: a thread in a SIGUSR1 handler (the frame the scan must find).
  const l = computeLayout(builtinProfile("amd-zen4"));
  const STACK = 0x7ffffffde000n;
  const p = simulate(
    l,
    [{ tid: 100, sp: STACK + 0x20800n, signals: [{ signo: 10, regs: { k2: "0x1" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const images = criuImages(p, { mainStack: STACK + 0x20f00n, comm: "web" });
  // Process 2 (a child of 1): one thread, and a 1 GiB heap in pages-2.img.
  const pid2 = 200;
  const HEAP = 0x7f0000000000n;
  const pstree1 = images.get("pstree.img")!;
  images.set(
    "pstree.img",
    concatImages(
      pstree1,
      image("PSTREE", pstree_entrySchema, [{ pid: pid2, ppid: 100, pgid: 100, sid: 100, threads: [pid2] }]),
    ),
  );
  const core1 = images.get("core-100.img")!;
  // The second process's thread: the first's core image with its own stack pointer (not in a handler).
  images.set(`core-${pid2}.img`, core1);
  images.set(
    `mm-${pid2}.img`,
    image("MM", mm_entrySchema, [
      {
        mmStartCode: 0n,
        mmEndCode: 0n,
        mmStartData: 0n,
        mmEndData: 0n,
        mmStartStack: 0n,
        mmStartBrk: 0n,
        mmBrk: 0n,
        mmArgStart: 0n,
        mmArgEnd: 0n,
        mmEnvStart: 0n,
        mmEnvEnd: 0n,
        exeFileId: 0,
        vmas: [
          {
            start: HEAP,
            end: HEAP + BigInt(heapBytes),
            pgoff: 0n,
            shmid: 0n,
            prot: 3,
            flags: 0x22,
            status: 1 | (1 << 9),
            fd: -1n,
          },
        ],
      },
    ]),
  );
  images.set(
    `pagemap-${pid2}.img`,
    concatImages(
      image("PAGEMAP", pagemap_headSchema, [{ pagesId: 2 }]),
      image("PAGEMAP", pagemap_entrySchema, [
        { vaddr: HEAP, compatNrPages: 0, nrPages: BigInt(heapBytes / 4096), flags: PE_PRESENT },
      ]),
    ),
  );
  for (const [n, b] of images) writeFileSync(join(cp, n), b);
  writeHeap(join(cp, "pages-2.img"), heapBytes);
  const enc = (s: string) => new TextEncoder().encode(s);
  writeFileSync(
    join(root, "dump.log"),
    enc(compelDumpLog(l, { vendor: "AuthenticAMD", family: 25, brand: "AMD EPYC 9654" })),
  );
  writeFileSync(
    join(root, "config.dump"),
    JSON.stringify({ id: "bench0", name: "bench", createdTime: "2026-12-01T10:00:00Z" }),
  );
  writeFileSync(
    join(root, "spec.dump"),
    JSON.stringify({ annotations: { "io.container.manager": "libpod" } }),
  );
  const file = join(dir, "bench.tar.zst");
  const tar = spawnSync("sh", ["-c", `tar -C "${root}" --sort=name -cf - . | zstd -q -3 -T0 -o "${file}"`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (tar.status !== 0) throw new Error(`building the bench archive: ${tar.stderr}`);
  rmSync(root, { recursive: true, force: true });
  const size = Number(spawnSync("stat", ["-c", "%s", file], { encoding: "utf8" }).stdout.trim());
  return { file, dir, bytes: size, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `sigframe scan ARCHIVE` against `zstd -dc ARCHIVE | grep -c -aF SXPF`, whole processes. */
export function archiveProcessRatios(a: BenchArchive, env: NodeJS.ProcessEnv, runs: number): ProcessRatio[] {
  const baseline: ProcessCommand = {
    label: "zstd -dc FILE | grep -c -aF SXPF",
    argv: ["sh", "-c", `zstd -dc "${a.file}" | grep -c -aF SXPF`],
    stdoutFile: join(a.dir, "grep.out"),
    env,
    ok: [0, 1],
  };
  const gib = ARCHIVE_HEAP_BYTES / 2 ** 30;
  return ratios(
    [
      {
        name: `sigframe scan FILE.tar.zst (${gib} GiB checkpoint archive, ${(a.bytes / 2 ** 20).toFixed(0)} MiB compressed)`,
        ours: {
          label: "sigframe scan FILE",
          argv: sigframe("scan", a.file),
          stdoutFile: join(a.dir, "scan.out"),
          env,
        },
        baseline,
        target: 2.0,
      },
    ],
    runs,
  );
}
