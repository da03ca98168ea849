/**
 * The abi-test report without QEMU: boots as the guest's results leave them (letters measured on
 * Debian's 6.1 / 6.17 / 7.3 kernels under TCG, -cpu max), the policy named across boots, the
 * departures from classic and the JSON document.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { abiBoot, abiTestJson, abiTestReport, TCG_LIMITS } from "../../../src/core/probe/abi-test.ts";
import type { CaseResult } from "../../../src/core/probe/analyze.ts";
import { report, result } from "../../helpers/probe-results.ts";

/** The cases that separate the policies, as a kernel implementing `policy` answers them. */
function guest(policy: "classic" | "refined" | "legacy"): CaseResult[] {
  const rows: [string, { classic: string; refined: string; legacy: string }][] = [
    ["untouched", { classic: "AA---A", refined: "AA---A", legacy: "AA---A" }],
    ["xstate-size-below-min", { classic: "F0---F", refined: "FF---F", legacy: "F0---F" }],
    ["small-frame", { classic: "FF---F", refined: "F0---F", legacy: "FF---F" }],
    ["policy-separator", { classic: "F0---F", refined: "0F---F", legacy: "F0---F" }],
    ["misaligned-16", { classic: "SIGSEGV", refined: "SIGSEGV", legacy: "F0---F" }],
  ];
  return [
    ...rows.map(([id, p]) => result(id, p[policy], p.classic, p.refined, p.legacy)),
    result("compacted", undefined, "FCCCCF", "FCCCCF", "FCCCCF", { skipped: "the CPU has no XSAVEC" }),
  ];
}

const qemu = { version: "7.2.22", accel: "tcg" as const, boot: "pvh" as const };
const secs = { boot: 9.5, probe: 6.5 };

test("abiBoot: every case where the guest does not do what classic does, both sides in words", () => {
  assert.deepEqual(abiBoot("max", "tcg", report(guest("classic"), "7.3-amd64"), secs).departures, []);
  const b = abiBoot("max", "tcg", report(guest("refined"), "6.17.13+deb13-amd64"), secs);
  assert.equal(b.kernel, "6.17.13+deb13-amd64");
  assert.equal(b.bootSeconds, 9.5);
  assert.deepEqual(
    b.departures.map((d) => [d.id, d.linux.observed, d.runtime.observed]),
    [
      ["xstate-size-below-min", "F0---F", "FF---F"],
      ["small-frame", "FF---F", "F0---F"],
      ["policy-separator", "F0---F", "0F---F"],
    ],
  );
  assert.match(b.departures[0]!.linux.meaning, /FX-only/);
  assert.equal(b.departures[1]!.runtime.meaning.length > 0, true);
});

test("abiTestReport: the one policy every case of every boot matches, from the guest's results", () => {
  for (const policy of ["classic", "refined", "legacy"] as const) {
    const boots = ["max", "SandyBridge"].map((m) => abiBoot(m, "tcg", report(guest(policy), "k"), secs));
    const r = abiTestReport("vmlinuz", qemu, boots);
    assert.equal(r.policy, policy);
    assert.deepEqual(r.candidates, [policy]);
    assert.equal(r.kernel, "k");
    assert.deepEqual(r.limits, TCG_LIMITS);
  }
  // Boots that disagree name no policy; a boot whose cases do not separate two policies leaves
  // the other boot to decide.
  const classic = abiBoot("max", "tcg", report(guest("classic")), secs);
  const refined = abiBoot("Haswell", "tcg", report(guest("refined")), secs);
  const mixed = abiTestReport("vmlinuz", qemu, [classic, refined]);
  assert.equal(mixed.policy, "unknown");
  assert.deepEqual(mixed.candidates, []);
  const vague = abiBoot("qemu64", "tcg", report([result("untouched", "AA---A", "AA---A")]), secs);
  assert.deepEqual(vague.probe.verdict.candidates, ["classic", "refined", "legacy"]);
  assert.equal(abiTestReport("vmlinuz", qemu, [vague, refined]).policy, "refined");
  assert.equal(abiTestReport("vmlinuz", qemu, [vague]).policy, "unknown");
  // KVM: the CPU's own instructions, no emulator limits to state.
  assert.deepEqual(abiTestReport("vmlinuz", { ...qemu, accel: "kvm" }, [classic]).limits, []);
  assert.equal(abiTestReport("vmlinuz", qemu, []).kernel, "unknown");
});

test("abiTestJson: the probe document per boot, and each policy's mismatches as MODEL/CASE", () => {
  const boots = [
    abiBoot("max", "tcg", report(guest("refined"), "6.17.13+deb13-amd64"), secs),
    abiBoot("SandyBridge", "tcg", report(guest("refined"), "6.17.13+deb13-amd64"), secs),
  ];
  const j = abiTestJson(abiTestReport("/tmp/vmlinuz", { ...qemu, accelNote: "TCG: no KVM" }, boots));
  assert.equal(j.policy, "refined");
  assert.equal(j.kernel, "6.17.13+deb13-amd64");
  assert.deepEqual(j.policyMismatches.refined, []);
  assert.deepEqual(j.policyMismatches.classic, [
    "max/xstate-size-below-min",
    "max/small-frame",
    "max/policy-separator",
    "SandyBridge/xstate-size-below-min",
    "SandyBridge/small-frame",
    "SandyBridge/policy-separator",
  ]);
  assert.deepEqual(j.policyMismatches.legacy, [
    "max/xstate-size-below-min",
    "max/small-frame",
    "max/policy-separator",
    "max/misaligned-16",
    "SandyBridge/xstate-size-below-min",
    "SandyBridge/small-frame",
    "SandyBridge/policy-separator",
    "SandyBridge/misaligned-16",
  ]);
  assert.equal(j.qemu.accelNote, "TCG: no KVM");
  assert.deepEqual(
    j.boots.map((b) => [b.qemu.model, b.qemu.accel, b.kernel, b.departures.length, b.cases.length]),
    [
      ["max", "tcg", "6.17.13+deb13-amd64", 3, 5],
      ["SandyBridge", "tcg", "6.17.13+deb13-amd64", 3, 5],
    ],
  );
  assert.equal(j.boots[0]!.policy, "refined");
  assert.ok(j.boots[0]!.skipped.some((s) => s.id === "compacted"));
});
