/** MXCSR_MASK: measured where known, else estimated from CPUID; how the check and the model use it. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkCompat, kernelFrame } from "../../../src/core/compat/index.ts";
import {
  effectiveMxcsrMask,
  estimatedMxcsrMask,
  MXCSR_DAZ,
  MXCSR_INIT,
  mxcsrMaskOf,
  resolveMxcsrMask,
} from "../../../src/core/mxcsr.ts";
import { type Policy, predict } from "../../../src/core/sigreturn/index.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";
import { layout, profile } from "./pairs.ts";

describe("MXCSR_MASK of a host", needs(CORPUS, "cpuid corpus"), () => {
  test("estimated from CPUID: Intel 0xffff, AMD with MisAlignSse 0x2ffff; a measured value wins", () => {
    const intel = mxcsrMaskOf(profile("icelakeSp"));
    assert.deepEqual([intel.value, intel.estimated], [0xffff, true]);
    const amd = profile("zen3");
    assert.ok(amd.cpuid.has("MISALIGNSSE"));
    const est = mxcsrMaskOf(amd);
    assert.deepEqual([est.value, est.estimated], [0x2ffff, true]);
    assert.match(est.basis, /MisAlignSse/);
    const measured = mxcsrMaskOf({ ...amd, mxcsrMask: 0xffff });
    assert.deepEqual([measured.value, measured.estimated], [0xffff, false]);
    // FXSAVE reporting 0 means the kernel's 0xffbf (no DAZ): measured, not estimated.
    const zero = mxcsrMaskOf({ ...amd, mxcsrMask: 0 });
    assert.deepEqual([zero.value, zero.estimated], [0xffbf, false]);
    assert.equal(effectiveMxcsrMask(0), 0xffbf);
    assert.equal(estimatedMxcsrMask(profile("haswell").cpuid).value, 0xffff);
  });

  test("without any mask the check and the model assume 0xffff (DAZ accepted)", () => {
    assert.deepEqual(
      [resolveMxcsrMask(undefined).value, resolveMxcsrMask(undefined).estimated],
      [0xffff, true],
    );
    const l = layout("zen3");
    const f = kernelFrame(l, l, { uses: 0x7n, mxcsr: MXCSR_INIT | MXCSR_DAZ });
    const p = predict({ fpstate: f.fpstate, task: l, policy: "classic" });
    assert.equal(p.signal, null);
    assert.equal(p.path, "xrstor");
    // A measured 0 is the kernel's 0xffbf: the same frame is then SIGSEGV.
    const q = predict({ fpstate: f.fpstate, task: l, policy: "classic", mxcsrMask: 0 });
    assert.equal(q.reason, "xrstor-gp-mxcsr");
  });
});

describe("MXCSR_MASK in check", needs(CORPUS, "cpuid corpus"), () => {
  /** A Zen 3 frame found in a checkpoint: YMM in use, DAZ set in MXCSR. */
  const dazFrame = () => {
    const l = layout("zen3");
    const f = kernelFrame(l, l, { uses: 0x7n, mxcsr: MXCSR_INIT | MXCSR_DAZ });
    f.id = "t1-d1";
    f.style = "checkpoint";
    return { l, f };
  };
  /** check of that frame, from a measured 0x2ffff to `toMxcsrMask`. */
  const checkDaz = (toMxcsrMask: Parameters<typeof checkCompat>[0]["toMxcsrMask"], policies?: Policy[]) => {
    const { l, f } = dazFrame();
    const input: Parameters<typeof checkCompat>[0] = {
      from: l,
      to: l,
      predict,
      frames: [f],
      fromMxcsrMask: 0x2ffff,
    };
    if (toMxcsrMask !== undefined) input.toMxcsrMask = toMxcsrMask;
    if (policies) input.policies = policies;
    return checkCompat(input);
  };

  test("a frame with DAZ set restored where the measured mask lacks DAZ: SIGSEGV, an error", () => {
    const r = checkDaz(0xffbf, ["classic"]);
    assert.equal(r.exitCode, 3);
    const out = r.policies.classic.frames[0]!;
    assert.equal(out.signal, "SIGSEGV");
    assert.equal(out.reason, "xrstor-gp-mxcsr");
    const e = r.findings.find((x) => x.code === "sigreturn_fault");
    assert.ok(e && e.severity === "error" && e.reason === "xrstor-gp-mxcsr");
    assert.deepEqual([r.to.mxcsrMask, r.to.mxcsrMaskEstimated], [0xffbf, undefined]);
  });

  test("the same frame on a destination whose mask is estimated from CPUID: restores; the estimate is info", () => {
    const r = checkDaz(mxcsrMaskOf(profile("zen3")));
    assert.equal(r.exitCode, 0, JSON.stringify(r.findings));
    for (const p of ["legacy", "classic", "refined"] as const) assert.ok(r.policies[p].frames[0]!.intact, p);
    const info = r.findings.find((x) => x.code === "mxcsr_mask_estimated");
    assert.ok(info);
    assert.equal(info.severity, "info");
    assert.match(info.message, /0x2ffff, estimated from CPUID/);
    assert.deepEqual([r.to.mxcsrMask, r.to.mxcsrMaskEstimated], [0x2ffff, true]);
  });

  test("both masks estimated (two corpus dumps): no MXCSR finding", () => {
    const r = checkCompat({
      from: layout("genoa"),
      to: layout("turin"),
      predict,
      fromMxcsrMask: mxcsrMaskOf(profile("genoa")),
      toMxcsrMask: mxcsrMaskOf(profile("turin")),
    });
    assert.deepEqual(r.findings, []);
  });
});
