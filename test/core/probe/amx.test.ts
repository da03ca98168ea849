import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AMX_CASE_IDS,
  type AmxProbeCase,
  amxCaseContextFor,
  amxProbeCases,
  analyzeAmxCase,
  frameWords,
  SIGALTSTACK_CASE_IDS,
  sigaltstackProbeCases,
  smallestFittingAltstack,
  tileConfig,
  tileLetters,
  tilePattern,
} from "../../../src/core/probe/amx.ts";
import { expectedFinalBytes, matches } from "../../../src/core/probe/analyze.ts";
import { CASE_IDS, regionWrites } from "../../../src/core/probe/cases.ts";
import { simulate } from "../../../src/core/probe/classify.ts";
import { patterns } from "../../../src/core/probe/patterns.ts";
import type { CaseRun } from "../../../src/core/probe/protocol.ts";
import { isaOf, standardOffset } from "../../../src/core/probe/regions.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { altstackDelivery, minSigStkSz, sigaltstackMinimum } from "../../../src/core/sigframe/stack.ts";
import { predict } from "../../../src/core/sigreturn/index.ts";
import { XFEATURE } from "../../../src/core/xsave/components.ts";
import { componentOf, computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";

const builtin = (name: string) => BUILTIN_PROFILES.find((b) => b.name === name)!.build();

function casesFor(name: string) {
  const profile = builtin(name);
  const layout = computeLayout(profile);
  const ctx = amxCaseContextFor(profile, layout, isaOf(layout));
  return { profile, layout, ctx, cases: amxProbeCases(ctx) };
}

/** The frame the kernel writes for an AMX task that loaded pattern A into registers and tiles. */
function amxKernelFrame(task: XsaveLayout): Uint8Array {
  const U = task.userSize;
  const b = new Uint8Array(U + 4);
  const dv = new DataView(b.buffer);
  for (const w of regionWrites(isaOf(task), patterns().A, (r) => standardOffset(task, r)))
    b.set(w.bytes, w.offset);
  b.set(tileConfig(), componentOf(task, XFEATURE.XTILECFG)!.offset);
  b.set(tilePattern("A"), componentOf(task, XFEATURE.XTILEDATA)!.offset);
  dv.setUint32(24, 0x3f80, true);
  dv.setUint32(28, 0xffff, true);
  dv.setUint32(464, 0x46505853, true);
  dv.setUint32(468, U + 4, true);
  dv.setBigUint64(472, task.userFeatures, true);
  dv.setUint32(480, U, true);
  dv.setBigUint64(512, task.userFeatures, true);
  dv.setUint32(U, 0x46505845, true);
  return b;
}

describe("AMX probe cases", () => {
  test("case ids contain amx and do not collide with the frame cases", () => {
    assert.ok(AMX_CASE_IDS.length >= 10);
    for (const id of AMX_CASE_IDS) {
      assert.match(id, /amx/);
      assert.ok(!CASE_IDS.includes(id), id);
    }
  });

  test("without AMX tile data every case is skipped, with the reason", () => {
    for (const name of ["amd-zen5", "intel-icelake-server", "intel-haswell"]) {
      const { cases } = casesFor(name);
      assert.equal(cases.length, AMX_CASE_IDS.length);
      for (const c of cases) assert.match(c.skip ?? "", /^no AMX: .*(bit 18|tile)/, `${name} ${c.id}`);
    }
  });

  test("on an AMX layout: offsets from CPUID leaf 0xD, sizes from the model, writes inside what is mapped", () => {
    const { ctx, cases } = casesFor("intel-sapphirerapids");
    const U0 = ctx.host.userSize;
    const U1 = ctx.amxTask.userSize;
    assert.ok(U1 > U0, `${U1} > ${U0}`);
    const dataOff = componentOf(ctx.amxTask, XFEATURE.XTILEDATA)!.offset;
    for (const c of cases) {
      assert.equal(c.skip, undefined, c.id);
      for (const w of c.edit.writes) {
        const end = w.offset + w.bytes.length;
        if (c.edit.place.kind === "inplace")
          assert.ok(end <= c.task.frame.extendedSize, `${c.id}: write ends at ${end}`);
        else assert.ok(end <= 65536, c.id);
      }
    }
    const patt = cases.find((c) => c.id === "amx-patterns")!;
    assert.ok(
      patt.edit.writes.some((w) => w.offset === dataOff && w.bytes.length === tilePattern("F").length),
    );
    // The sigaltstack cases straddle the model's bounds by one byte.
    const below = cases.find((c) => c.id === "amx-sigaltstack-below-minimum")!;
    const at = cases.find((c) => c.id === "amx-sigaltstack-at-minimum")!;
    assert.equal(at.amx.sasBefore, minSigStkSz(ctx.host) - ctx.host.maxUserSize + U1);
    assert.equal(below.amx.sasBefore, at.amx.sasBefore! - 1);
    assert.match(below.expected!, /perm ENOSPC$/);
    assert.match(at.expected!, /perm ok$/);
    const after = cases.find((c) => c.id === "amx-sigaltstack-after-permission")!;
    const afterMin = cases.find((c) => c.id === "amx-sigaltstack-after-permission-minimum")!;
    assert.equal(after.amx.sasAfter! + 1, afterMin.amx.sasAfter);
    assert.match(after.expected!, /sas ENOMEM$/);
    assert.match(afterMin.expected!, /sas ok$/);
    // The task states: tiles in use for the frame cases, none for the ones without permission.
    assert.equal(cases.find((c) => c.id === "amx-untouched")!.task.userSize, U1);
    assert.equal(cases.find((c) => c.id === "amx-frame-without-permission")!.task.userSize, U0);
    assert.equal(cases.find((c) => c.id === "amx-frame-without-permission")!.amx.mode, "none");
  });

  test("tile letters: configuration and data told apart from init, pattern A, pattern F and frame bytes", () => {
    const cfg = tileConfig();
    const zero = new Uint8Array(8192);
    assert.equal(tileLetters(cfg, tilePattern("A"), undefined), "AA");
    assert.equal(tileLetters(cfg, tilePattern("F"), undefined), "AF");
    assert.equal(tileLetters(cfg, zero, undefined), "A0");
    assert.equal(tileLetters(new Uint8Array(64), zero, undefined), "00");
    const m = tilePattern("F");
    m.set([0x45, 0x58, 0x50, 0x46]);
    assert.equal(tileLetters(cfg, m, m), "AM");
    assert.equal(tileLetters(cfg, m, undefined), "A?");
  });

  test("the model separates classic from refined with a non-AMX-sized frame in an AMX task", () => {
    const { ctx, cases, profile } = casesFor("intel-sapphirerapids");
    const isa = isaOf(ctx.host);
    const actx = {
      layout: ctx.host,
      isa,
      kBits: 64,
      patterns: patterns(),
      xsavec: profile.cpuid.has("XSAVEC"),
      predict,
    };
    const answers = (id: string) => {
      const c = cases.find((x) => x.id === id)! as AmxProbeCase;
      const delivered = amxKernelFrame(c.task);
      const placed = expectedFinalBytes(delivered, c.edit, delivered.length);
      const address = 0x7ffffffd0000n;
      // A run whose registers and tiles are what the classic model says.
      const p = predict({
        fpstate: placed,
        task: c.task,
        policy: "classic",
        address,
        readableBytes: placed.length,
      });
      const regs = simulate(p, placed, c.task, isa)!;
      const tileCfg =
        p.components.find((x) => x.bit === XFEATURE.XTILECFG)!.result === "frame"
          ? tileConfig()
          : new Uint8Array(64);
      const tileOff = componentOf(c.task, XFEATURE.XTILEDATA)!.offset;
      const tileData =
        p.components.find((x) => x.bit === XFEATURE.XTILEDATA)!.result === "frame"
          ? placed.slice(tileOff, tileOff + 8192)
          : new Uint8Array(8192);
      const run: CaseRun = {
        id,
        outcome: "returned",
        delivered: { ucFlags: 7n, fpstateOffset: 448, address, bytes: delivered },
        placed: { address, readable: placed.length, bytes: placed },
        regs,
        tiles: { cfg: tileCfg, data: tileData },
      };
      return analyzeAmxCase(c, run, actx);
    };
    const r = answers("amx-default-size-frame");
    assert.equal(r.observed, "FFFFFFA0");
    assert.equal(r.predictions!.classic.letters, "FFFFFFA0");
    assert.equal(r.predictions!.refined.letters, "F0000F00");
    assert.ok(matches(r, "classic") && !matches(r, "refined"));
    const all = answers("amx-default-size-all-features");
    assert.equal(all.observed, "FFFFFFAM");
    assert.equal(answers("amx-patterns").observed, "FFFFFFAF");
    assert.equal(answers("amx-xfeatures-without-tiledata").observed, "FFFFFFA0");
  });

  test("delivery cases compare the frame the kernel wrote with the model; a different size is a mismatch", () => {
    const { ctx, cases, profile } = casesFor("intel-sapphirerapids");
    const c = cases.find((x) => x.id === "amx-frame")!;
    const actx = {
      layout: ctx.host,
      isa: isaOf(ctx.host),
      kBits: 64,
      patterns: patterns(),
      xsavec: true,
      predict,
    };
    void profile;
    const run = (size: number, xfeatures: bigint, bv: bigint): CaseRun => ({
      id: c.id,
      outcome: "returned",
      delivered: {
        ucFlags: 7n,
        fpstateOffset: 448,
        address: 0n,
        bytes: new Uint8Array(0),
        sw: { magic1: 0x46505853, extendedSize: size + 4, xfeatures, xstateSize: size },
        xstateBv: bv,
      },
    });
    const good = analyzeAmxCase(c, run(ctx.amxTask.userSize, ctx.amxTask.userFeatures, 0x600e7n), actx);
    assert.equal(
      good.observed,
      frameWords({
        xstateSize: ctx.amxTask.userSize,
        xfeatures: ctx.amxTask.userFeatures,
        xstateBv: 0x60003n,
      }),
    );
    assert.ok(matches(good, "classic"));
    const bad = analyzeAmxCase(c, run(ctx.host.userSize, ctx.host.userFeatures, 0xe7n), actx);
    assert.ok(!matches(bad, "classic"));
    assert.match(bad.observed!, /no-tiles$/);
  });
});

describe("signal frames on a sigaltstack", () => {
  const actxOf = (l: XsaveLayout) => ({
    layout: l,
    isa: isaOf(l),
    kBits: 64,
    patterns: patterns(),
    xsavec: true,
    predict,
  });
  const run = (id: string, extra: Partial<CaseRun>): CaseRun => ({ id, outcome: "returned", ...extra });

  test("without AMX: on every CPU with XSAVE, the smallest stack that holds the frame and one byte less", () => {
    assert.ok(SIGALTSTACK_CASE_IDS.every((id) => !id.includes("amx") && !CASE_IDS.includes(id)));
    for (const name of ["amd-zen5", "intel-icelake-server", "intel-haswell", "intel-sapphirerapids"]) {
      const { ctx } = casesFor(name);
      const cases = sigaltstackProbeCases(ctx);
      assert.deepEqual(
        cases.map((c) => c.id),
        [...SIGALTSTACK_CASE_IDS],
      );
      const ext = ctx.host.userSize + 4;
      const n = smallestFittingAltstack(ext);
      // The page-aligned stack's smallest fit: n fits, n - 1 does not.
      assert.ok(altstackDelivery(0x7f0000000000n, BigInt(n), ext).fits, name);
      assert.ok(!altstackDelivery(0x7f0000000000n, BigInt(n - 1), ext).fits, name);
      const [fits, over] = cases as [AmxProbeCase, AmxProbeCase];
      assert.equal(fits.skip, undefined);
      assert.match(fits.expected!, /^frame at ss_sp\+\d+$/);
      if (n <= 2048) {
        // Haswell's frame fits in MINSIGSTKSZ: no stack sigaltstack() takes is too small.
        assert.equal(fits.amx.sasDeliver, 2048);
        assert.match(over.skip ?? "", /fits in every sigaltstack/, name);
        continue;
      }
      assert.equal(fits.amx.sasDeliver, n);
      assert.equal(over.amx.sasDeliver, n - 1);
      assert.equal(over.expected, "SIGSEGV");
    }
  });

  test("the frame's offset above ss_sp is compared; a frame elsewhere, or a survived overflow, mismatches", () => {
    const { ctx } = casesFor("amd-zen5");
    const [fits, over] = sigaltstackProbeCases(ctx) as [AmxProbeCase, AmxProbeCase];
    const room = altstackDelivery(0x1000n, BigInt(fits.amx.sasDeliver!), ctx.host.userSize + 4).room;
    const actx = actxOf(ctx.host);
    const good = analyzeAmxCase(fits, run(fits.id, { sasDeliver: { sas: "ok", frameOffset: room } }), actx);
    assert.equal(good.observed, `frame at ss_sp+${room}`);
    assert.ok(matches(good, "classic"));
    const off = analyzeAmxCase(
      fits,
      run(fits.id, { sasDeliver: { sas: "ok", frameOffset: room + 64 } }),
      actx,
    );
    assert.ok(!matches(off, "classic"));
    const died = analyzeAmxCase(over, run(over.id, { outcome: "killed", signal: "SIGSEGV" }), actx);
    assert.equal(died.observed, "SIGSEGV");
    assert.ok(matches(died, "classic"));
    const lived = analyzeAmxCase(over, run(over.id, { sasDeliver: { sas: "ok", frameOffset: 8 } }), actx);
    assert.ok(!matches(lived, "classic"));
  });

  test("an AMX task: the smallest stack sigaltstack() takes holds the frame, one byte less is refused", () => {
    const { ctx, cases } = casesFor("intel-sapphirerapids");
    const fits = cases.find((c) => c.id === "amx-sigaltstack-frame-fits")!;
    const refused = cases.find((c) => c.id === "amx-sigaltstack-frame-refused")!;
    const min = sigaltstackMinimum(ctx.host, ctx.amxTask.userSize);
    assert.equal(fits.amx.sasDeliver, min);
    assert.equal(fits.amx.mode, "tiles");
    assert.equal(refused.amx.sasDeliver, min - 1);
    const room = altstackDelivery(0x1000n, BigInt(min), ctx.amxTask.userSize + 4).room;
    assert.ok(room > 0);
    assert.equal(fits.expected, `frame at ss_sp+${room}`);
    assert.equal(refused.expected, "sas ENOMEM");
    const r = analyzeAmxCase(
      refused,
      run(refused.id, { sasDeliver: { sas: "ENOMEM", frameOffset: null } }),
      actxOf(ctx.host),
    );
    assert.equal(r.observed, "sas ENOMEM");
    assert.ok(matches(r, "classic"));
  });
});
