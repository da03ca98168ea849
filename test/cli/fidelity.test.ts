/**
 * Where a real process dies or loses state after a restore, at the CLI: PKRU locking key 0,
 * frames cut at a guard page, sigaltstacks too small for the destination's frame, glibc's
 * lazy-binding XSAVE area.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { altstackDelivery } from "../../src/core/sigframe/stack.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { sigframe as cli } from "../helpers/cli.ts";
import { compelDumpLog, criuImages } from "../helpers/criu-checkpoint.ts";
import { simulate } from "../helpers/process-core.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-fidelity-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("PKRU that locks protection key 0", () => {
  const state = join(dir, "pkru.json");
  const frame = join(dir, "pkru.bin");
  writeFileSync(state, JSON.stringify({ ymm1: "0x1234", pkru: "0x1c0011" }));

  test("build warns, inspect reports, predict answers SIGSEGV with SEGV_PKUERR", async () => {
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--fpstate-only",
      "-o",
      frame,
    ]);
    assert.equal(b.code, 0, b.err);
    assert.match(b.err, /^sigframe: warning: PKRU 0x1c0011 sets access-disable for protection key 0/m);

    const i = await cli(["inspect", frame, "--cpu", "intel-icelake-server", "--json"]);
    assert.ok(
      JSON.parse(i.out).findings.some((f: { code: string }) => f.code === "pkru-locks-key0"),
      i.out,
    );

    const p = await cli(["predict", frame, "--cpu", "intel-icelake-server", "--policy", "classic", "--json"]);
    assert.equal(p.code, 0, p.err);
    const j = JSON.parse(p.out);
    assert.equal(j.signal, "SIGSEGV");
    assert.equal(j.siCode, 4);
    assert.equal(j.pkru, "0x1c0011");
    assert.equal(j.reason, "pkru-locks-key0");
    assert.equal(j.path, "xrstor");

    const human = await cli([
      "predict",
      frame,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "refined",
      "--fail-on-loss",
    ]);
    assert.equal(human.code, 3);
    assert.match(human.out, /XRSTOR, then SIGSEGV \(si_code 4\)/);
  });

  test("translate to another layout notes the source's PKRU", async () => {
    const out = join(dir, "pkru-zen4.bin");
    const t = await cli([
      "translate",
      frame,
      "--from",
      "intel-icelake-server",
      "--to",
      "amd-zen4",
      "-o",
      out,
    ]);
    assert.match(`${t.out}\n${t.err}`, /protection key 0/);
    void readFileSync;
  });
});

describe("a frame that ends where memory ends (--readable-bytes)", () => {
  const state = join(dir, "zmm.json");
  writeFileSync(state, JSON.stringify({ ymm1: `0x${"33".repeat(32)}`, zmm17: `0x${"44".repeat(64)}` }));
  const full = join(dir, "icx.bin");
  const cut = (n: number, name = `cut${n}.bin`) => {
    const p = join(dir, name);
    writeFileSync(p, readFileSync(full).subarray(0, n));
    return p;
  };

  test("cut before magic2: a prediction per policy, not an input error", async () => {
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--fpstate-only",
      "-o",
      full,
    ]);
    assert.equal(b.code, 0, b.err);
    const f = cut(2000);
    const r = await cli([
      "predict",
      f,
      "--cpu",
      "intel-icelake-server",
      "--all-policies",
      "--readable-bytes",
      "2000",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const by = Object.fromEntries(
      JSON.parse(r.out).predictions.map((p: { policy: string }) => [p.policy, p]),
    );
    assert.equal(by.classic.path, "fault");
    assert.equal(by.classic.reason, "magic2-unreadable");
    assert.equal(by.classic.siCode, 128);
    assert.equal(by.refined.reason, "magic2-unreadable");
    assert.equal(by.legacy.path, "fxrstor-fallback");
    const human = await cli([
      "predict",
      f,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "2000",
    ]);
    assert.match(
      human.out,
      /^mapped: 2000 bytes from the fpstate on \(--readable-bytes\); a kernel read past them faults$/m,
    );
  });

  test("without --readable-bytes the file's end asks for more bytes, and says how to get a prediction", async () => {
    const r = await cli(["predict", cut(2000), "--cpu", "intel-icelake-server", "--policy", "classic"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(
      r.err,
      /^sigframe: .*magic2.*input ends at 2000 bytes.*--readable-bytes N for a prediction\n$/,
    );
  });

  test("cut before the software bytes, or with components past the mapped bytes", async () => {
    const r = await cli([
      "predict",
      cut(300),
      "--cpu",
      "intel-icelake-server",
      "--fpstate-only",
      "--all-policies",
      "--readable-bytes",
      "300",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const by = Object.fromEntries(
      JSON.parse(r.out).predictions.map((p: { policy: string }) => [p.policy, p]),
    );
    assert.equal(by.classic.reason, "sw-bytes-unreadable");
    assert.equal(by.legacy.reason, "fxrstor-fault");
    // xstate_size 832 with magic2 there, AVX-512 still asked for: XRSTOR reads Hi16_ZMM past 1500.
    const small = new Uint8Array(readFileSync(full));
    const dv = new DataView(small.buffer);
    dv.setUint32(480, 832, true);
    dv.setUint32(468, 836, true);
    dv.setUint32(832, 0x46505845, true);
    const p = join(dir, "small.bin");
    writeFileSync(p, small.subarray(0, 1500));
    const x = await cli([
      "predict",
      p,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "1500",
      "--json",
    ]);
    assert.equal(x.code, 0, x.err);
    const j = JSON.parse(x.out);
    assert.equal(j.reason, "xrstor-fault");
    assert.equal(j.signal, "SIGSEGV");
  });

  test("a whole rt_sigframe cut at a guard page", async () => {
    const frame = join(dir, "frame.bin");
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--base",
      "0x7ffffff00008",
      "-o",
      frame,
    ]);
    assert.equal(b.code, 0, b.err);
    const p = join(dir, "frame-cut.bin");
    writeFileSync(p, readFileSync(frame).subarray(0, 2000));
    const r = await cli([
      "predict",
      p,
      "--frame",
      "--base",
      "0x7ffffff00008",
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "1552",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).reason, "magic2-unreadable");
  });
});

describe("check: glibc's XSAVE area and sigaltstacks after migration", () => {
  test("amd-zen4 → intel-sapphirerapids: glibc_xsave_size is a warning, with the conditions and the fixes", async () => {
    const r = await cli([
      "check",
      "--from",
      "amd-zen4",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--json",
    ]);
    const j = JSON.parse(r.out);
    const g = j.findings.find((f: { code: string }) => f.code === "glibc_xsave_size");
    assert.ok(g, r.out);
    assert.equal(g.severity, "warning");
    assert.match(g.message, /lazily bound/);
    assert.match(g.hint, /LD_BIND_NOW=1/);
    assert.match(g.hint, /-z now/);
    assert.ok(j.to.frameBytes > j.from.frameBytes);
    assert.ok(j.to.atMinSigStkSz > j.from.atMinSigStkSz);
    const human = await cli([
      "check",
      "--from",
      "amd-zen4",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
    ]);
    assert.match(
      human.out,
      /^ {2}signal frames {2}up to \d+ bytes of stack on amd-zen4 \(AT_MINSIGSTKSZ \d+\), up to \d+ on intel-sapphirerapids/m,
    );
  });

  test(
    "check --checkpoint passes each thread's sigaltstack: S4's 64 KiB one holds any frame",
    needs(join(FIXTURES, "criu", "S4"), "fixture S4"),
    async () => {
      const r = await cli([
        "check",
        "--checkpoint",
        join(FIXTURES, "criu", "S4"),
        "--to",
        "intel-sapphirerapids",
        "--policy",
        "classic",
        "--json",
      ]);
      const j = JSON.parse(r.out);
      assert.ok(!j.findings.some((f: { code: string }) => f.code === "sigaltstack_too_small"), r.out);
    },
  );

  describe("check --checkpoint names each thread whose sigaltstack cannot hold the destination's frame", () => {
    // A process checkpointed on Zen 4 (CRIU images and dump.log made here, no ../shared): thread
    // 900 without a sigaltstack, 901 with 64 KiB, 902 with SIGSTKSZ (8192), 903 with just enough
    // for Zen 4's frame at its alignment but not for Sapphire Rapids'.
    const zen4 = computeLayout(builtinProfile("amd-zen4"));
    const spr = computeLayout(builtinProfile("intel-sapphirerapids"));
    const HEAP = 0x555555560000n;
    const STACK = 0x7ffffffde000n;
    const tight = { sp: HEAP + 0x14000n, size: 0n };
    for (let n = 0x800n; n < 0x2000n && tight.size === 0n; n += 16n) {
      const a = altstackDelivery(tight.sp, n, zen4.userSize + 4);
      const b = altstackDelivery(tight.sp, n, spr.userSize + 4);
      if (a.fits && !b.fits) tight.size = n;
    }
    const p = simulate(
      zen4,
      [
        { tid: 900, sp: STACK + 0x20000n, signals: [{ signo: 10 }] },
        { tid: 901, sp: STACK + 0x10000n, altstack: { sp: HEAP + 0x1000n, size: 0x10000n }, signals: [] },
        { tid: 902, sp: STACK + 0x8000n, altstack: { sp: HEAP + 0x11000n, size: 8192n }, signals: [] },
        { tid: 903, sp: STACK + 0x4000n, altstack: tight, signals: [] },
      ],
      [
        { start: HEAP, size: 0x21000 },
        { start: STACK, size: 0x21000 },
      ],
    );
    const ckpt = join(dir, "zen4-altstacks");
    mkdirSync(ckpt);
    for (const [name, bytes] of criuImages(p, { mainStack: STACK + 0x20000n }))
      writeFileSync(join(ckpt, name), bytes);
    writeFileSync(
      join(ckpt, "dump.log"),
      compelDumpLog(zen4, { vendor: "AuthenticAMD", family: 25, brand: "AMD EPYC 9654 96-Core Processor" }),
    );
    const check = (...extra: string[]) =>
      cli(["check", "--checkpoint", ckpt, "--to", "intel-sapphirerapids", "--policy", "classic", ...extra]);
    const tooSmall = (out: string) =>
      JSON.parse(out)
        .findings.filter((f: { code: string }) => f.code === "sigaltstack_too_small")
        .map((f: { message: string; severity: string }) => f);

    test("restored as a task without AMX: only the thread whose stack is tight", async () => {
      assert.ok(tight.size > 0n, "a size that holds Zen 4's frame but not Sapphire Rapids'");
      const r = await check("--json");
      assert.equal(r.code, 3, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.from.userSize, zen4.userSize, "A from the checkpoint's dump.log");
      const f = tooSmall(r.out);
      assert.equal(f.length, 1, JSON.stringify(f));
      assert.equal(f[0].severity, "error");
      assert.match(
        f[0].message,
        /^pid 900 thread 903: its sigaltstack 0x[0-9a-f]+\+\d+ holds .*overflowed sigaltstack/,
      );
      const human = await check();
      assert.match(human.out, /sigaltstack_too_small .*pid 900 thread 903: its sigaltstack/);
      assert.doesNotMatch(human.out, /thread 90[012]: its sigaltstack/);
    });

    test("restored as an AMX task (--amx): SIGSTKSZ and the tight stack cannot coexist with the permission", async () => {
      const r = await check("--amx", "--json");
      const f: { message: string; severity: string }[] = tooSmall(r.out);
      const of = (tid: number) => f.filter((x) => x.message.startsWith(`pid 900 thread ${tid}:`));
      for (const tid of [902, 903]) {
        assert.equal(of(tid).length, 1, JSON.stringify(f));
        assert.equal(of(tid)[0]!.severity, "error");
        assert.match(of(tid)[0]!.message, /-ENOSPC.*-ENOMEM/);
      }
      assert.deepEqual(of(901), []);
      assert.deepEqual(of(900), []);
    });
  });
});
