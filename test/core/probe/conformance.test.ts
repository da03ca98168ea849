import assert from "node:assert/strict";
import { test } from "node:test";
import {
  conformanceJson,
  conformanceReport,
  deliveryDeviations,
  departure,
  LINUX_FPSTATE_OFFSET,
  linuxReference,
  type Reference,
} from "../../../src/core/probe/conformance.ts";
import type { FrameSeen } from "../../../src/core/probe/protocol.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { report, result } from "../../helpers/probe-results.ts";

const spr = builtinProfile("intel-sapphirerapids");
const layout = computeLayout(spr);
const amx = computeLayout(spr, { amx: true });

/** The frame Linux writes for `l` (save_sw_bytes(), frame_uc_flags(), get_sigframe()). */
function linuxFrame(l = layout): FrameSeen {
  return {
    ucFlags: 0x7n,
    fpstateOffset: LINUX_FPSTATE_OFFSET,
    address: 0x7ffc0000a000n,
    sw: {
      magic1: 0x46505853,
      extendedSize: l.userSize + 4,
      xfeatures: l.userFeatures,
      xstateSize: l.userSize,
    },
    magic2: 0x46505845,
    xstateBv: 0xa3n,
    bytes: new Uint8Array(l.userSize + 4),
  };
}

test("deliveryDeviations: Linux's own frame has none", () => {
  assert.deepEqual(deliveryDeviations(linuxFrame(), layout), []);
});

test("deliveryDeviations: QEMU linux-user's uc_flags and placement, gVisor's AMX-sized frame", () => {
  const qemu = { ...linuxFrame(), ucFlags: 0x1n, fpstateOffset: 440 };
  assert.deepEqual(
    deliveryDeviations(qemu, layout).map((d) => [d.field, d.linux, d.runtime]),
    [
      ["uc_flags", "0x7", "0x1"],
      ["fpstate - ucontext", "448", "440"],
    ],
  );
  const gvisor = { ...linuxFrame(amx), ucFlags: 0x3n };
  const d = deliveryDeviations(gvisor, layout);
  assert.deepEqual(
    d.map((x) => x.field),
    ["uc_flags", "sw.xstate_size", "sw.extended_size", "sw.xfeatures"],
  );
  assert.equal(d[1]!.linux, String(layout.userSize));
  assert.equal(d[1]!.runtime, String(amx.userSize));
  assert.match(d[1]!.note ?? "", /ARCH_REQ_XCOMP_PERM/);
  const misplaced = { ...linuxFrame(), address: 0x7ffc0000a010n, magic2: 0, xstateBv: 0x1_0000_00e7n };
  assert.deepEqual(
    deliveryDeviations(misplaced, layout).map((x) => x.field),
    ["fpstate alignment", "magic2 at xstate_size", "xstate_bv"],
  );
});

const classicRef: Reference = { policy: "classic", kernel: "6.18.44", basis: "measured" };

test("conformanceReport: a runtime that does what Linux does in every case conforms", () => {
  const r = conformanceReport(
    "true",
    report([
      result("untouched", "AAAAAA", "AAAAAA"),
      result("policy-separator", "F0000F", "F0000F", "0F000F"),
      result("compacted", undefined, "FCCCCF", "FCCCCF", "FCCCCF", { skipped: "no XSAVEC" }),
    ]),
    classicRef,
    [],
  );
  assert.deepEqual(r.deviations, []);
  assert.deepEqual(r.agreeing, ["untouched", "policy-separator"], "the skipped case is neither");
  assert.equal(r.conforms, true);
  // The frame it delivers alone makes it depart.
  const d = conformanceReport("x", r.probe, classicRef, [
    { field: "uc_flags", linux: "0x7", runtime: "0x1" },
  ]);
  assert.equal(d.conforms, false);
  assert.deepEqual(d.deviations, []);
});

test("conformanceReport: each case that differs from the reference policy is a deviation with both sides", () => {
  const results = [
    result("untouched", "AAAAAA", "AAAAAA"),
    // QEMU linux-user: no reset on a NULL fpstate (measured, qemu-user 7.2).
    result("null-fpstate", "AA---A", "00---0"),
    // QEMU: no #GP for reserved MXCSR bits.
    result("mxcsr-reserved", "FF---M", "SIGSEGV"),
    // Matches refined but the reference is classic: still a deviation.
    result("policy-separator", "0F---F", "F0---F", "0F---F"),
    // gVisor's sentry died in this case.
    result("magic2-bad", "crashed", "F0---F", "F0---F", "F0---F", {
      notes: ["the runtime exited with code 2 during this case: sandbox panic"],
    }),
    // The registers are the prediction, but the frame handed over was not the edited one.
    result("relocated", "FF---F", "FF---F", "FF---F", "FF---F", { editApplied: false }),
    // Not predicted (no frame reported).
    { id: "nested", description: "nested", observed: "FF---F", notes: [] },
  ];
  const r = conformanceReport("qemu-x86_64 -cpu max", report(results), classicRef, []);
  assert.equal(r.conforms, false);
  assert.deepEqual(r.agreeing, ["untouched"]);
  const byId = new Map(r.deviations.map((d) => [d.id, d]));
  assert.deepEqual(
    [...byId.keys()],
    ["null-fpstate", "mxcsr-reserved", "policy-separator", "magic2-bad", "relocated", "nested"],
  );
  const nul = byId.get("null-fpstate")!;
  assert.equal(nul.linux.observed, "00---0");
  assert.equal(nul.linux.meaning, "every register reset to init");
  assert.equal(nul.linux.reason, "reason-null-fpstate");
  assert.equal(nul.runtime.observed, "AA---A");
  assert.match(nul.runtime.meaning, /kept its value from before the signal/);
  assert.equal(byId.get("mxcsr-reserved")!.linux.meaning, "killed by SIGSEGV");
  assert.equal(
    byId.get("policy-separator")!.linux.observed,
    "F0---F",
    "against the reference, not the best match",
  );
  const crashed = byId.get("magic2-bad")!;
  assert.equal(crashed.runtime.meaning, "the runtime itself died (not only the task)");
  assert.deepEqual(crashed.runtime.notes, ["the runtime exited with code 2 during this case: sandbox panic"]);
  assert.match(byId.get("relocated")!.runtime.notes[0]!, /not the delivered frame with this edit/);
  assert.equal(byId.get("nested")!.linux.observed, "?");
  // Under a refined reference the separator agrees and nothing else changes.
  const refined = conformanceReport("q", report(results), { ...classicRef, policy: "refined" }, []);
  assert.ok(refined.agreeing.includes("policy-separator"));
  assert.equal(refined.deviations.length, 5);
  // JSON: the probe's document plus the runtime, reference and deviations.
  const j = conformanceJson(r);
  assert.equal(j.under, "qemu-x86_64 -cpu max");
  assert.deepEqual(j.reference, classicRef);
  assert.equal(j.conforms, false);
  assert.equal(j.deviations.length, 6);
  assert.equal(j.cases.length, results.length);
});

test("departure: skipped and unobserved cases are not deviations", () => {
  assert.equal(departure(result("a", undefined, "FF---F"), "classic"), undefined);
  assert.equal(
    departure(result("a", "00---0", "FF---F", "FF---F", "FF---F", { skipped: "x" }), "classic"),
    undefined,
  );
  assert.equal(departure(result("a", "FF---F", "FF---F"), "legacy"), undefined);
  assert.equal(
    departure(result("a", "timeout", "FF---F"), "classic")?.runtime.meaning,
    "hung; killed after the timeout",
  );
  assert.match(departure(result("a", "exit 127", "FF---F"), "classic")!.runtime.meaning, /status 127/);
});

test("linuxReference: the measured policy, else the host kernel's in the release table", () => {
  assert.deepEqual(linuxReference("6.17.13", { policy: "classic", kernel: "6.17.13-custom" }), {
    policy: "classic",
    kernel: "6.17.13-custom",
    basis: "measured",
  });
  // Not measured (no helper) or the probe could not tell: the table for the release.
  for (const [release, policy, note] of [
    ["6.1.176", "classic", undefined],
    ["6.17.13", "refined", /ended before the revert 44eeff9bc467/],
    ["6.18.44-fc-v1147", "classic", undefined],
    ["7.3.4", "classic", undefined],
    ["5.10.0", "legacy", undefined],
    ["6.18.10", "refined", /the table allows refined or classic/],
    ["6.1.0-50-amd64", "classic", /a Debian kernel/],
  ] as const) {
    for (const measured of [undefined, { policy: "unknown" as const, kernel: release }]) {
      const r = linuxReference(release, measured);
      assert.equal(r.policy, policy, release);
      assert.equal(r.basis, "kernel table", release);
      assert.equal(r.kernel, release);
      if (note) assert.match(r.note ?? "", note, release);
    }
  }
  const odd = linuxReference("not-a-release");
  assert.equal(odd.policy, "classic");
  assert.match(odd.note ?? "", /does not parse/);
});
