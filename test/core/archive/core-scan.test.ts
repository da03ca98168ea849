/**
 * Compressed cores read as streams give exactly what the same core gives on disk: processes made
 * in the test, written as kernel cores, compressed at test time with Debian's zstd, xz and lz4
 * (and streamed uncompressed, which needs no tool), in the kernel's file layout and in others
 * (segments reversed or split, notes or program headers after the data, PN_XNUM). No ../shared.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resourceUsage } from "node:process";
import { describe, test } from "node:test";
import zlib from "node:zlib";
import { decompress } from "../../../src/core/archive/compression.ts";
import { scanStreamedCore } from "../../../src/core/archive/core-scan.ts";
import { bytesStream } from "../../../src/core/archive/streams.ts";
import { openCore } from "../../../src/core/elf/index.ts";
import { isSigframeError } from "../../../src/core/errors.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { scannedFrames } from "../../../src/core/scan/cases.ts";
import { scanJson } from "../../../src/core/scan/report.ts";
import { elfCoreTarget, scanTarget } from "../../../src/core/scan/targets.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { elfCore, simulate } from "../../helpers/process-core.ts";
import { type Layout, relayoutCore } from "../../helpers/relayout-core.ts";

const HEAP = 0x555555560000n;
const STACK = 0x7ffffffde000n;
const TOP = STACK + 0x21000n;

/** Two threads in handlers (one nested on a sigaltstack in the heap) on an AVX-512 CPU. */
function process(cpu = "amd-zen4") {
  const l = computeLayout(builtinProfile(cpu));
  return simulate(
    l,
    [
      { tid: 700, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { k2: "0xabcd", zmm20: "0x12" } }] },
      {
        tid: 701,
        sp: STACK + 0x4000n,
        altstack: { sp: HEAP + 0x2a0n, size: 0x10000n },
        signals: [
          { signo: 12, onstack: true },
          { signo: 14, onstack: true },
        ],
      },
    ],
    [
      { start: HEAP, size: 0x21000 },
      { start: STACK, size: 0x21000 },
    ],
  );
}

const sim = process();
const CORE = elfCore(sim, { mainStack: TOP - 0x100n });

/** The scan of a core on disk (random access), as `scan --json` prints it. */
function plainScan(bytes: Uint8Array, all = false) {
  const t = elfCoreTarget(openCore(bytesSource(bytes), "core"), "core");
  const scans = scanTarget(t, all ? { all: true } : {});
  return { target: t, scans, json: scanJson(t, scans, all) };
}

async function streamedScan(
  bytes: Uint8Array,
  o: { all?: boolean; reopenable?: boolean; maxHead?: number; chunk?: number } = {},
) {
  const opts: Parameters<typeof scanStreamedCore>[2] = { reopenable: o.reopenable ?? true };
  if (o.all) opts.all = true;
  if (o.maxHead !== undefined) opts.maxHead = o.maxHead;
  // Small chunks: headers, notes and frames straddle chunk boundaries.
  const res = await scanStreamedCore(() => bytesStream(bytes, o.chunk ?? 7001), "core", opts);
  const json = scanJson(res.target, res.scans, Boolean(o.all));
  delete (json.target as Record<string, unknown>).compression;
  return { ...res, json };
}

const has = (tool: string) => !spawnSync(tool, ["--version"]).error;
function compress(tool: string, bytes: Uint8Array): Uint8Array {
  const args = tool === "xz" ? ["-c", "-T1"] : ["-q", "-c"];
  const r = spawnSync(tool, args, { input: bytes, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  return new Uint8Array(r.stdout);
}

describe("a compressed core scans exactly as the core on disk", () => {
  const want = plainScan(CORE).json;
  test("the process has its frames (the comparison is not of two empty scans)", () => {
    const s = want.summary as { liveFrames: number };
    assert.equal(s.liveFrames, 3);
  });
  test("uncompressed, streamed", async () => {
    assert.deepEqual((await streamedScan(CORE)).json, want);
  });
  test("uncompressed, in chunks that the scanner appends to its window or searches in place", async () => {
    // 1500 bytes: every chunk appended; larger ones are searched where they lie and appended only
    // while a hit waits for its bytes; every alignment too (--all examines more candidates).
    const wantAll = plainScan(CORE, true).json;
    for (const chunk of [1500, 2600, 4096, 65536, 1 << 20]) {
      assert.deepEqual((await streamedScan(CORE, { chunk })).json, want, `chunks of ${chunk}`);
      assert.deepEqual(
        (await streamedScan(CORE, { chunk, all: true })).json,
        wantAll,
        `--all, chunks of ${chunk}`,
      );
    }
  });
  for (const tool of ["zstd", "xz", "lz4"]) {
    test(tool, async (t) => {
      if (!has(tool)) return t.skip(`${tool} is not installed`);
      const z = compress(tool, CORE);
      const res = await streamedScan(z);
      assert.deepEqual(res.json, want);
      assert.equal(res.target.compression, tool);
    });
  }
  test("check's frame cases (bytes, addresses, sizes) are the same", async () => {
    const la = computeLayout(builtinProfile("amd-zen4"));
    const lb = computeLayout(builtinProfile("intel-icelake-server"));
    const p = plainScan(CORE);
    const s = await streamedScan(CORE);
    const a = scannedFrames([{ target: p.target, scans: p.scans }], "core", la, lb);
    const b = scannedFrames([{ target: s.target, scans: s.scans }], "core", la, lb);
    assert.equal(a.frames.filter((f) => f.style === "core").length, 3);
    assert.deepEqual(b.frames, a.frames);
    assert.deepEqual(b.notes, a.notes);
  });
});

describe("other file layouts of the same core", () => {
  const want = plainScan(CORE).json;
  const wantAll = plainScan(CORE, true).json;
  const frame = sim.frames.find((f) => f.tid === 700)!;
  const cases: [string, Layout][] = [
    ["segments in reverse address order", { reverse: true }],
    ["notes after the data", { notesLast: true }],
    ["program headers after the data", { phdrsLast: true }],
    ["PN_XNUM: the segment count in section header 0 at the end", { xnum: true, notesLast: true }],
    // The stack split inside the frame, the halves stored apart: the frame needs both.
    ["a frame across two segments stored apart", { reverse: true, splitAt: [frame.fpstate + 0x400n] }],
    // magic1 itself across the seam.
    ["magic1 across two segments stored apart", { reverse: true, splitAt: [frame.fpstate + 466n] }],
  ];
  for (const [what, layout] of cases) {
    test(what, async () => {
      const bytes = relayoutCore(CORE, layout);
      const plain = plainScan(bytes).json;
      // The same memory: the same scan as the kernel's layout, except where a split mapping changes
      // which frames are on a stack (then the layout's own plain scan is the reference).
      if (!layout.splitAt) assert.deepEqual(plain, want);
      assert.deepEqual((await streamedScan(bytes)).json, plain);
      assert.deepEqual((await streamedScan(bytes, { all: true })).json, plainScan(bytes, true).json);
      if (!layout.splitAt) assert.deepEqual((await streamedScan(bytes, { all: true })).json, wantAll);
    });
  }

  test("headers past a small head limit: a second pass from a file; a pipe gets one line", async () => {
    for (const layout of [{ phdrsLast: true }, { xnum: true }] as Layout[]) {
      const bytes = relayoutCore(CORE, layout);
      const res = await streamedScan(bytes, { maxHead: 4096 });
      assert.deepEqual(res.json, want);
      await assert.rejects(streamedScan(bytes, { maxHead: 4096, reopenable: false }), (e: Error) => {
        assert.ok(isSigframeError(e));
        assert.match(e.message, /after the data.*read twice; give it as a file, not on a pipe/);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    }
  });

  test("a frame across segments stored apart, on a pipe: one line naming the cause", async () => {
    const bytes = relayoutCore(CORE, { reverse: true, splitAt: [frame.fpstate + 0x400n] });
    await assert.rejects(
      streamedScan(bytes, { reopenable: false }),
      /a magic1 hit lies where two segments meet in memory but are stored apart/,
    );
  });
});

describe("bad compressed cores", () => {
  test("a truncated zstd stream is a truncated input", async (t) => {
    if (!has("zstd")) return t.skip("zstd is not installed");
    const z = compress("zstd", CORE);
    await assert.rejects(streamedScan(z.subarray(0, z.length >> 1)), (e: Error) => {
      assert.ok(isSigframeError(e));
      assert.equal(e.kind, "truncated");
      return true;
    });
  });
  test("a core cut short inside its data scans as the cut file does (missing ranges, warnings)", async () => {
    const cut = CORE.subarray(0, CORE.length - 0x3000);
    const plain = plainScan(cut).json;
    assert.ok((plain.missing as unknown[]).length > 0);
    assert.deepEqual((await streamedScan(cut)).json, plain);
  });
  test("a core cut inside its notes fails as the cut file does", async () => {
    const cut = CORE.subarray(0, 0x300);
    let fileError: unknown;
    try {
      plainScan(cut);
    } catch (e) {
      fileError = e;
    }
    assert.ok(isSigframeError(fileError));
    await assert.rejects(streamedScan(cut), (e: Error) => {
      assert.ok(isSigframeError(e));
      assert.equal(e.message, (fileError as Error).message);
      return true;
    });
  });
});

describe("bytes past the last one the headers name are not read", () => {
  const TAIL = 64 << 20;
  /** gzip of the core followed by TAIL zero bytes, written as a stream (the tail never whole in memory). */
  function coreWithTail(): Uint8Array {
    const z = zlib.gzipSync(CORE, { level: 1 });
    // A second gzip member of zeros: gunzip reads members one after another, as a file of both.
    const zeros = new Uint8Array(1 << 20);
    const parts: Uint8Array[] = [z];
    const g = zlib.gzipSync(zeros, { level: 1 });
    for (let i = 0; i < TAIL >> 20; i++) parts.push(g);
    return Uint8Array.from(Buffer.concat(parts));
  }

  test("a gzip core with 64 MiB appended: the scan is the core's, and stops reading at its end", async () => {
    const gz = coreWithTail();
    let pulled = 0;
    const open = () =>
      (async function* () {
        for await (const c of bytesStream(gz, 4096)) {
          pulled += c.length;
          yield c;
        }
      })();
    const res = await scanStreamedCore(open, "core", {});
    const json = scanJson(res.target, res.scans, false);
    delete (json.target as Record<string, unknown>).compression;
    assert.deepEqual(json, plainScan(CORE).json);
    // The core is a few KiB compressed; the zeros are another 64 members after it.
    assert.ok(pulled < gz.length / 4, `${pulled} of ${gz.length} compressed bytes read`);
  });

  test("uncompressed: the bytes read stop within a chunk of the core's end", async () => {
    const big = new Uint8Array(CORE.length + (8 << 20));
    big.set(CORE);
    let pulled = 0;
    const open = () =>
      (async function* () {
        for await (const c of bytesStream(big, 4096)) {
          pulled += c.length;
          yield c;
        }
      })();
    const res = await scanStreamedCore(open, "core", {});
    assert.equal(res.scans[0]!.result.frames.filter((f) => f.confidence === "high").length, 3);
    assert.ok(pulled <= CORE.length + 4096, `${pulled} bytes read of a ${CORE.length}-byte core`);
  });
});

describe("the in-process gzip decoder holds little output at a time", () => {
  test("256 MiB of inflation given as one chunk: reading its first pieces does not inflate it all", async () => {
    const member = zlib.gzipSync(new Uint8Array(1 << 20), { level: 9 });
    // 256 members of 1 MiB of zeros: about 256 KiB of input, pushed as a single chunk.
    const gz = Uint8Array.from(Buffer.concat(Array.from({ length: 256 }, () => member)));
    const peak = () => resourceUsage().maxRSS * 1024;
    const before = peak();
    const it = decompress(
      "gzip",
      (async function* () {
        yield gz;
      })(),
    )[Symbol.asyncIterator]();
    let got = 0;
    for (let i = 0; i < 8; i++) {
      const r = await it.next();
      if (r.done) break;
      got += r.value.length;
    }
    await it.return?.();
    const growth = peak() - before;
    assert.ok(got > 0);
    // Fed in 4 KiB slices, at most some 4 MiB waits to be read; the whole chunk at once was 256 MiB.
    assert.ok(growth < 64 << 20, `peak memory grew by ${growth} bytes for ${got} bytes read`);
  });
});
