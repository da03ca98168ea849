import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkCompat,
  criuFrame,
  defaultUses,
  evaluateFrame,
  type Finding,
  kernelFrame,
  rawCopyFrame,
} from "../../../src/core/compat/index.ts";
import { type Policy, predict } from "../../../src/core/sigreturn/index.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";
import { type HostKey, layout } from "./pairs.ts";

function check(a: HostKey, b: HostKey, policies?: Policy[], uses?: bigint) {
  const input: Parameters<typeof checkCompat>[0] = { from: layout(a), to: layout(b), predict };
  if (policies) input.policies = policies;
  if (uses !== undefined) input.uses = uses;
  return checkCompat(input);
}

const has = (fs: Finding[], code: string, component?: string, severity?: string) =>
  fs.some(
    (f) =>
      f.code === code &&
      (component === undefined || f.component === component) &&
      (severity === undefined || f.severity === severity),
  );

describe("check: the issue's pairs", needs(CORPUS, "cpuid corpus"), () => {
  test("this machine (Zen 5, XCR0 0xe7) → Ice Lake-SP: AVX-512 misplaced, 3", () => {
    const r = check("thisMachine", "icelakeSp");
    assert.equal(r.exitCode, 3);
    const m = r.findings.find(
      (f) => f.code === "component_misplaced" && f.component === "OPMASK" && f.style === "kernel",
    );
    assert.ok(m, "OPMASK misplaced in kernel frames");
    assert.equal(m.severity, "error");
    assert.deepEqual([m.from?.offset, m.to?.offset], [832, 1088]);
    assert.ok(has(r.findings, "component_misplaced", "ZMM_Hi256", "error"));
    // Hi16_ZMM at 1664..2688 on Intel runs past the 2436 bytes the AMD kernel wrote.
    const o = r.findings.find((f) => f.code === "component_outside_frame" && f.component === "Hi16_ZMM");
    assert.ok(o && o.code === "component_outside_frame");
    assert.equal(o.frameEnd, 2436);
    for (const p of ["classic", "refined", "legacy"] as Policy[])
      assert.equal(check("thisMachine", "icelakeSp", [p]).exitCode, 3);
  });

  test("Haswell → Ice Lake-SP: classic 1 (glibc's XSAVE area only), refined 3, all policies 1", () => {
    const classic = check("haswell", "icelakeSp", ["classic"]);
    assert.equal(classic.exitCode, 1);
    assert.deepEqual(
      classic.findings.filter((f) => f.severity !== "info").map((f) => f.code),
      ["glibc_xsave_size"],
    );
    const refined = check("haswell", "icelakeSp", ["refined"]);
    assert.equal(refined.exitCode, 3);
    const small = refined.findings.find((f) => f.code === "xstate_size_smaller" && f.severity === "error");
    assert.ok(small, "smaller frame → FX-only under refined");
    assert.deepEqual([small.from?.userSize, small.to?.userSize], [832, 2696]);
    assert.equal(small.reason, "magic2-mismatch");
    const all = check("haswell", "icelakeSp");
    assert.equal(all.exitCode, 1);
    const w = all.findings.find((f) => f.code === "xstate_size_smaller");
    assert.ok(w);
    assert.equal(w.severity, "warning");
    assert.deepEqual(w.policies, ["refined"]);
    assert.match(w.message, /v6\.15 … v7\.1-rc5/, "names the kernels");
    assert.equal(all.policies.classic.verdict, "warnings");
    assert.equal(all.policies.refined.verdict, "incompatible");
  });

  test("Ice Lake-SP → Haswell: 3 (frame larger than user_size, AVX-512 dropped)", () => {
    const r = check("icelakeSp", "haswell");
    assert.equal(r.exitCode, 3);
    const big = r.findings.find((f) => f.code === "xstate_size_larger");
    assert.ok(big);
    assert.equal(big.severity, "error");
    assert.deepEqual(big.policies, ["legacy", "classic", "refined"]);
    assert.ok(has(r.findings, "component_dropped", "OPMASK", "error"), "CRIU drops AVX-512 state");
    assert.ok(has(r.findings, "raw_copy_refused"));
  });

  test("Genoa → Turin: 0, no findings", () => {
    const r = check("genoa", "turin");
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.findings, []);
    assert.equal(r.criu.wouldAccept, true);
    assert.equal(r.criu.assessment, "agrees");
  });

  test("Skylake-SP → Ice Lake-SP: 0 (MPX absent on Ice Lake but unused); CRIU refuses needlessly", () => {
    const r = check("skylakeSp", "icelakeSp");
    assert.equal(r.exitCode, 0);
    assert.ok(has(r.findings, "component_unused_missing", "BNDREGS", "info"));
    assert.equal(r.criu.wouldAccept, false);
    assert.equal(r.criu.assessment, "refuses-needlessly");
    // A process that did use MPX: its frames name BNDREGS outside Ice Lake's XCR0.
    const mpx = check("skylakeSp", "icelakeSp", ["classic"], layout("skylakeSp").userFeatures);
    assert.equal(mpx.exitCode, 3);
    assert.ok(has(mpx.findings, "xstate_bv_unsupported", undefined, "error"));
  });

  test("Ice Lake-SP → Sapphire Rapids: classic 0, refined 3", () => {
    const c = check("icelakeSp", "sapphireRapids", ["classic"]);
    assert.equal(c.exitCode, 0);
    const r = check("icelakeSp", "sapphireRapids", ["refined"]);
    assert.equal(r.exitCode, 3);
    const f = r.findings.find((x) => x.code === "xstate_size_smaller" && x.style === "kernel");
    assert.ok(f);
    assert.deepEqual([f.from?.userSize, f.to?.userSize], [2696, 2816]);
    // CRIU's trimmed frame (PKRU last, 2696) hits the same regression.
    assert.ok(r.findings.some((x) => x.code === "xstate_size_smaller" && x.frames?.includes("criu")));
  });

  test("Zen 2 → Zen 3: classic 0 (Zen 2 lists PKRU but lacks PKU: Linux never enables it)", () => {
    const z2 = layout("zen2");
    assert.equal((z2.xcr0 >> 9n) & 1n, 0n, "PKRU not in Zen 2's XCR0");
    assert.match(z2.components.find((c) => c.bit === 9)?.reason ?? "", /PKU/);
    const r = check("zen2", "zen3", ["classic"]);
    assert.equal(r.exitCode, 0);
    assert.ok(has(r.findings, "pkru_init", "PKRU", "info"));
    assert.equal(check("zen2", "zen3", ["refined"]).exitCode, 3);
    assert.equal(check("zen2", "zen3").exitCode, 1);
  });

  test("Zen 3 → Raptor Lake: 3 (PKRU at 2432 vs 2688)", () => {
    const r = check("zen3", "raptorLake");
    assert.equal(r.exitCode, 3);
    const f = r.findings.find((x) => x.code === "component_outside_frame" && x.component === "PKRU");
    assert.ok(f, "PKRU read past the frame");
    assert.equal(f.severity, "error");
    assert.deepEqual([f.from?.offset, f.to?.offset], [2432, 2688]);
    // CRIU relocates PKRU: its own frame is fine under classic.
    const classic = check("zen3", "raptorLake", ["classic"]);
    assert.ok(!classic.findings.some((x) => x.frames?.includes("criu")));
  });
});

describe("check: mechanics", needs(CORPUS, "cpuid corpus"), () => {
  test("a host against itself: kernel frames intact under every policy", () => {
    for (const k of ["thisMachine", "haswell", "icelakeSp", "zen2", "zen3", "genoa"] as HostKey[]) {
      const r = check(k, k);
      assert.equal(r.exitCode, 0, k);
      for (const p of ["legacy", "classic", "refined"] as Policy[])
        for (const f of r.policies[p].frames) assert.ok(f.intact, `${k} ${p} ${f.frame}: ${f.reason}`);
    }
  });

  test("Sapphire Rapids against itself: CRIU's trimmed frame misses XTILECFG's user_size under refined", () => {
    const r = check("sapphireRapids", "sapphireRapids");
    assert.equal(r.exitCode, 1);
    const f = r.findings.find((x) => x.code === "xstate_size_smaller");
    assert.ok(f);
    assert.deepEqual(f.frames, ["criu"]);
    assert.deepEqual(f.policies, ["refined"]);
    assert.equal(f.severity, "warning");
    for (const fr of r.policies.refined.frames.filter((x) => x.style === "kernel")) assert.ok(fr.intact);
  });

  test("default uses drop MPX and AMX, keep PKRU", () => {
    const spr = layout("sapphireRapids");
    const u = defaultUses(spr);
    assert.equal((u >> 9n) & 1n, 1n);
    assert.equal((u >> 17n) & 1n, 0n);
    assert.equal((defaultUses(layout("skylakeSp")) >> 3n) & 1n, 0n);
  });

  test("frames: kernel frame sizes and CRIU trimming follow the layouts", () => {
    const a = layout("icelakeSp");
    const b = layout("sapphireRapids");
    const k = kernelFrame(a, b, { uses: a.userFeatures });
    assert.equal(k.xstateSize, 2696);
    assert.equal(new DataView(k.fpstate.buffer).getUint32(2696, true), 0x46505845);
    const c = criuFrame(a, b, { uses: 0x7n });
    assert.equal(c.xstateSize, 832, "YMM is the last component used");
    const r = rawCopyFrame(a, layout("haswell"), { uses: a.userFeatures });
    assert.deepEqual(r.refused, [5, 6, 7]);
    const o = evaluateFrame(c, b, "refined", predict);
    assert.equal(o.path, "fxrstor-fallback");
    assert.ok(!o.intact);
    assert.equal(evaluateFrame(c, b, "classic", predict).intact, true);
  });

  test("MXCSR_MASK: DAZ accepted on A but not on B is a warning", () => {
    const a = layout("zen3");
    const r = checkCompat({ from: a, to: a, predict, fromMxcsrMask: 0xffff, toMxcsrMask: 0xffbf });
    const f = r.findings.find((x) => x.code === "mxcsr_rejected");
    assert.ok(f);
    assert.equal(r.exitCode >= 1, true);
    const same = checkCompat({ from: a, to: a, predict, fromMxcsrMask: 0xffff, toMxcsrMask: 0xffff });
    assert.equal(same.exitCode, 0);
  });

  test("AMX: permission note when both have it; warning when B lacks it; AMX use → larger frames", () => {
    const spr = layout("sapphireRapids");
    assert.ok(
      has(checkCompat({ from: spr, to: spr, predict }).findings, "amx_permission", undefined, "info"),
    );
    const r = checkCompat({ from: spr, to: layout("icelakeSp"), predict, policies: ["classic"] });
    assert.ok(has(r.findings, "amx_unavailable", undefined, "warning"));
  });

  test("the frames to evaluate are an input: a caller's frame list replaces the standard ones", () => {
    const a = layout("haswell");
    const b = layout("icelakeSp");
    const f = kernelFrame(a, b, { uses: 7n });
    f.id = "thread-1";
    f.style = "checkpoint";
    const r = checkCompat({ from: a, to: b, predict, frames: [f], policies: ["refined"] });
    assert.deepEqual(
      r.frames.map((x) => x.id),
      ["thread-1"],
    );
    const x = r.findings.find((y) => y.code === "xstate_size_smaller");
    assert.ok(x);
    assert.deepEqual(x.frames, ["thread-1"]);
  });
});
