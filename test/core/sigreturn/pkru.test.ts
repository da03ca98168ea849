import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkCompat, type FrameCase } from "../../../src/core/compat/index.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { buildFpstate } from "../../../src/core/sigframe/build.ts";
import { checkFpstate } from "../../../src/core/sigframe/check.ts";
import { decodeFpstate, encodeFpstate } from "../../../src/core/sigframe/fpstate.ts";
import { encodeIa32Fpstate } from "../../../src/core/sigframe/ia32.ts";
import { buildIa32Fpstate } from "../../../src/core/sigframe/ia32-build.ts";
import { emptyState, setRegister } from "../../../src/core/sigframe/state.ts";
import { losesState, POLICIES, predict } from "../../../src/core/sigreturn/index.ts";
import { XFEATURE } from "../../../src/core/xsave/components.ts";
import { componentOf, computeLayout } from "../../../src/core/xsave/layout.ts";
import { PKRU_LINUX_DEFAULT, pkruKey0, SEGV_PKUERR } from "../../../src/core/xsave/pkru.ts";

const layout = computeLayout(BUILTIN_PROFILES.find((b) => b.name === "intel-icelake-server")!.build());
const pkruOff = componentOf(layout, XFEATURE.PKRU)!.offset;

function frameWith(pkru: number, notes: string[] = []): Uint8Array {
  const st = emptyState();
  setRegister(st, "ymm1", 0x1234n << 128n);
  setRegister(st, "pkru", BigInt(pkru));
  return encodeFpstate(buildFpstate(layout, st, "kernel", 0xffffn, notes));
}

describe("PKRU that locks protection key 0", () => {
  test("the key-0 bits: access-disable, write-disable, open", () => {
    assert.equal(pkruKey0(0x1c0011), "access");
    assert.equal(pkruKey0(0x55555556), "write");
    assert.equal(pkruKey0(PKRU_LINUX_DEFAULT), undefined);
    assert.equal(pkruKey0(0), undefined);
  });

  test("predict: the state comes back, then SIGSEGV with SEGV_PKUERR (legacy kernels fail the sigreturn)", () => {
    const fp = frameWith(0x1c0011);
    for (const policy of POLICIES) {
      const p = predict({ fpstate: fp, task: layout, policy });
      assert.equal(p.signal, "SIGSEGV", policy);
      assert.equal(p.reason, "pkru-locks-key0", policy);
      assert.equal(p.pkru, 0x1c0011);
      assert.equal(p.path, "xrstor");
      assert.equal(p.siCode, policy === "legacy" ? 128 : SEGV_PKUERR, policy);
      assert.ok(losesState(p));
      assert.ok(p.lost.includes("PKRU") && p.lost.includes("YMM"), p.lost.join());
      assert.match(p.detail, /0x1c0011/);
    }
    // Write-disable only: reads still work, every kernel completes the sigreturn.
    const wd = predict({ fpstate: frameWith(0x55555556), task: layout, policy: "legacy" });
    assert.equal(wd.siCode, SEGV_PKUERR);
    assert.match(wd.detail, /write-disable/);
  });

  test("predict: no signal where the PKRU leaves key 0 open or is not loaded from the frame", () => {
    assert.equal(
      predict({ fpstate: frameWith(PKRU_LINUX_DEFAULT), task: layout, policy: "classic" }).signal,
      null,
    );
    // FX-only fallback (magic2 gone): PKRU is reset to init (0), not loaded.
    const fx = frameWith(0x1c0011);
    new DataView(fx.buffer).setUint32(layout.userSize, 0, true);
    const p = predict({ fpstate: fx, task: layout, policy: "classic" });
    assert.equal(p.path, "fxrstor-fallback");
    assert.equal(p.signal, null);
    // sw.xfeatures without PKRU: set to init.
    const nx = frameWith(0x1c0011);
    new DataView(nx.buffer).setBigUint64(472, layout.userFeatures & ~(1n << 9n), true);
    assert.equal(predict({ fpstate: nx, task: layout, policy: "classic" }).signal, null);
  });

  test("the ia32 path loads PKRU too", () => {
    const st = emptyState();
    setRegister(st, "pkru", 0x1c0011n);
    const bytes = encodeIa32Fpstate(buildIa32Fpstate(layout, st, 0xffffn));
    const p = predict({ fpstate: bytes, task: layout, policy: "classic", ia32: true });
    assert.equal(p.reason, "pkru-locks-key0");
    assert.equal(p.siCode, SEGV_PKUERR);
  });

  test("build notes it, inspect reports it", () => {
    const notes: string[] = [];
    const fp = frameWith(0x1c0011, notes);
    assert.ok(
      notes.some((n) => /protection key 0/.test(n) && /kills the task/.test(n)),
      notes.join("\n"),
    );
    const findings = checkFpstate(decodeFpstate(fp, { layout }), { layout });
    assert.ok(findings.some((f) => f.code === "pkru-locks-key0" && f.severity === "error"));
    const ok = checkFpstate(decodeFpstate(frameWith(PKRU_LINUX_DEFAULT), { layout }), { layout });
    assert.ok(!ok.some((f) => f.code === "pkru-locks-key0"));
  });

  test("check: a checkpoint frame whose own PKRU locks key 0 is an error; PKRU read from other bytes is the misplacement's", () => {
    const bytes = frameWith(0x1c0011);
    const frame: FrameCase = {
      id: "t1-frame1",
      style: "checkpoint",
      description: "a frame on the stack",
      fpstate: bytes,
      placements: [{ bit: XFEATURE.PKRU, offset: pkruOff, size: 8 }],
      writtenBytes: bytes.length,
      xstateSize: layout.userSize,
      mxcsr: 0x1f80,
    };
    const r = checkCompat({ from: layout, to: layout, predict, frames: [frame], policies: ["classic"] });
    const f = r.findings.find((x) => x.code === "pkru_key0_locked");
    assert.ok(f, JSON.stringify(r.findings.map((x) => x.code)));
    assert.equal(f.severity, "error");
    assert.match(f.message, /SEGV_PKUERR/);
    // The same bytes where the writer put PKRU elsewhere: the destination reads other bytes.
    const moved: FrameCase = {
      ...frame,
      placements: [{ bit: XFEATURE.PKRU, offset: pkruOff - 64, size: 8 }],
    };
    const m = checkCompat({ from: layout, to: layout, predict, frames: [moved], policies: ["classic"] });
    assert.ok(!m.findings.some((x) => x.code === "pkru_key0_locked"));
    const mis = m.findings.find((x) => x.code === "component_misplaced" && x.component === "PKRU");
    assert.ok(mis);
    assert.match(mis.message, /SEGV_PKUERR/);
  });
});
