import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CliContext, memoryIo } from "../../src/cli/context.ts";
import { progressReporter } from "../../src/cli/scan.ts";
import { hexToBytes } from "../../src/core/hex.ts";
import { sf } from "../helpers/cli.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";

// biome-ignore lint/suspicious/noExplicitAny: truth files are plain JSON
type Truth = any;
const truth = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
const fixtures = needs(FIXTURES, "signal-frame fixtures");
const tmp = mkdtempSync(join(tmpdir(), "sigframe-scan-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("scan --json", fixtures, () => {
  test("in-handler checkpoint: the contract's fields with the frame's values", async () => {
    const tr = truth("S2");
    const w = tr.threads[0].frames[0];
    const r = await sf("scan", join(FIXTURES, "criu", "S2"), "--json");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    const j = JSON.parse(r.out);
    assert.equal(j.frames.length, 1);
    const f = j.frames[0];
    for (const k of [
      "thread",
      "ucontext",
      "fpstate",
      "signal",
      "xstateSize",
      "extendedSize",
      "xfeatures",
      "xstateBv",
      "depth",
      "confidence",
    ])
      assert.ok(k in f, k);
    assert.deepEqual(f.thread, { index: 1, tid: w.tid });
    assert.equal(f.ucontext, w.uc);
    assert.equal(f.fpstate, w.fpstate);
    assert.equal(f.signal, 10);
    assert.equal(f.signalName, "SIGUSR1");
    assert.equal(f.xstateSize, 2432);
    assert.equal(f.extendedSize, 2436);
    assert.equal(f.xfeatures, "0xe7");
    assert.equal(f.xstateBv, "0xe7");
    assert.equal(f.depth, 1);
    assert.equal(f.confidence, "high");
    assert.deepEqual(f.reasons, []);
    assert.equal(f.interrupted.rsp, w.interrupted_rsp);
    assert.equal(j.threads[0].inHandler, true);
    assert.equal(j.threads[0].fpu.xstateBv, "0xe7");
    assert.equal(j.target.kind, "criu");
    assert.equal(j.summary.liveFrames, 1);
    assert.equal(j.rejected, undefined, "rejections only with --all");
  });

  test("nested, on a kernel core: two frames by depth, SIGUSR1 outermost", async () => {
    const r = await sf("scan", join(FIXTURES, "core", "S3.kernel.core"), "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.frames.map((f: Truth) => [f.depth, f.signal, f.xstateBv, f.confidence]),
      [
        [1, 10, "0xe7", "high"],
        [2, 12, "0x7", "high"],
      ],
    );
    assert.equal(j.target.kind, "elf-core");
  });

  test("decoys with --all: nothing high, every hit accounted for", async () => {
    const r = await sf("scan", join(FIXTURES, "criu", "S6"), "--json", "--all");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.summary.liveFrames, 0);
    assert.ok(j.frames.every((f: Truth) => f.confidence === "low" && f.reasons.length > 0));
    assert.equal(j.frames.length + j.rejected.length, j.summary.magic1Hits);
    assert.equal(j.summary.magic1Hits, 48);
    for (const x of j.rejected) for (const k of ["magic1", "fpstate", "code", "reason"]) assert.ok(k in x, k);
  });
});

describe("scan, human output", fixtures, () => {
  test("names the thread's state and the frames", async () => {
    const r = await sf("scan", join(FIXTURES, "criu", "S4"));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1 live signal frame/);
    assert.match(r.out, /in a signal handler, 1 frame deep/);
    assert.match(r.out, /sigaltstack 0x/);
    assert.match(r.out, /SIGUSR1 .* altstack +high/);
  });

  test("S6: the stale frame and the heap copy are listed with reasons", async () => {
    const r = await sf("scan", join(FIXTURES, "core", "S6.core"));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /0 live signal frames/);
    assert.match(r.out, /not in a signal handler/);
    assert.match(r.out, /below thread 1's stack pointer/);
    assert.match(r.out, /not on any thread's stack/);
  });
});

describe("scan a raw memory image", fixtures, () => {
  const t = truth("S3").threads[0];
  const base = BigInt(t.sp_vma.lo);
  const img = new Uint8Array(Number(BigInt(t.sp_vma.hi) - base));
  for (const f of t.frames) img.set(hexToBytes(f.frame_bytes_hex), Number(BigInt(f.frame_addr) - base));
  const file = join(tmp, "stack.raw");
  writeFileSync(file, img);

  test("--base: frames found, low, and the output says why", async () => {
    const r = await sf("scan", file, "--base", `0x${base.toString(16)}`, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.target.kind, "raw");
    assert.equal(j.frames.length, 2);
    assert.ok(j.frames.every((f: Truth) => f.confidence === "low" && f.thread === undefined));
    assert.match(j.notes.join(), /no threads/);
  });

  test("--base with --sp: the chain from sp, high", async () => {
    const r = await sf("scan", file, "--base", `0x${base.toString(16)}`, "--sp", t.sp_at_block, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.frames.map((f: Truth) => [f.depth, f.ucontext, f.confidence]),
      t.frames.map((f: Truth) => [f.depth, f.uc, "high"]),
    );
  });

  test("a file that is neither a core nor given --base: exit 2, one line", async () => {
    const r = await sf("scan", file);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /^sigframe: .*stack\.raw: not a CRIU checkpoint directory or an ELF core; .*--base/);
    assert.equal(r.err.trim().split("\n").length, 1);
  });
});

describe("scan: bad input and usage", () => {
  test("a truncated ELF core: exit 2, one line, no stack trace", async () => {
    const b = new Uint8Array(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
    new DataView(b.buffer).setUint16(16, 4, true); // ET_CORE
    new DataView(b.buffer).setUint16(18, 62, true); // x86-64
    new DataView(b.buffer).setBigUint64(32, 0xffffffn, true); // e_phoff past the end
    new DataView(b.buffer).setUint16(54, 56, true);
    new DataView(b.buffer).setUint16(56, 3, true);
    const file = join(tmp, "trunc.core");
    writeFileSync(file, b);
    const r = await sf("scan", file);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^sigframe: .*trunc\.core/);
    assert.equal(r.err.trim().split("\n").length, 1);
    assert.doesNotMatch(r.err, /at .*\.ts:/);
  });

  test("missing target, bad --base, --sp without --base", async () => {
    const a = await sf("scan", join(tmp, "nope"));
    assert.equal(a.code, 2);
    assert.match(a.err, /^sigframe: .*nope: /);
    const b = await sf("scan", join(tmp, "nope"), "--base", "zz");
    assert.equal(b.code, 2);
    assert.match(b.err, /--base/);
    const c = await sf("scan", join(tmp, "nope"), "--sp", "0x1000");
    assert.equal(c.code, 2);
    assert.match(c.err, /--base/);
  });

  test("a checkpoint with --base is a usage error", { ...fixtures }, async () => {
    const r = await sf("scan", join(FIXTURES, "criu", "S1"), "--base", "0x1000");
    assert.equal(r.code, 2);
    assert.match(r.err, /--base is for raw memory images/);
  });
});

describe("progress", () => {
  test("on a terminal: bytes, rate and time left; cleared at the end", () => {
    const io = memoryIo();
    io.stderrIsTTY = true;
    let t = 0;
    const p = progressReporter(new CliContext(io), () => t);
    t = 1000;
    p(100 << 20, 400 << 20);
    assert.match(io.err, /scanning 100\.0 MiB \/ 400\.0 MiB {2}100\.0 MiB\/s {2}0:03 left/);
    p.end();
    assert.match(io.err, /\r\x1b\[K$/);
  });

  test("not a terminal: nothing", () => {
    const io = memoryIo();
    let t = 0;
    const p = progressReporter(new CliContext(io), () => t);
    t = 5000;
    p(1 << 20, 2 << 20);
    p.end();
    assert.equal(io.err, "");
  });
});
