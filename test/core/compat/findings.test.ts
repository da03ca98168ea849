import assert from "node:assert/strict";
import { test } from "node:test";
import { FINDING_CODES, finding, hostSide } from "../../../src/core/compat/index.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";

const layout = (name: string) => computeLayout(builtinProfile(name));

test("finding(): the catalogue's severity and hint, the facts in order, severity overridable", () => {
  const f = finding("xstate_bv_unsupported", { message: "m", bits: [9], policies: ["classic"] });
  assert.deepEqual(Object.keys(f), ["code", "severity", "message", "hint", "bits", "policies"]);
  assert.equal(f.severity, FINDING_CODES.xstate_bv_unsupported.severity);
  assert.equal(f.hint, FINDING_CODES.xstate_bv_unsupported.hint);
  assert.deepEqual(f.bits, [9]);
  const w = finding("component_reset", { severity: "warning", message: "m" });
  assert.equal(w.severity, "warning");
  assert.notEqual(FINDING_CODES.component_reset.severity, "warning");
});

test("hostSide(): a component's place where the host has it, absent where not, user_size without one", () => {
  const zen5 = layout("amd-zen5");
  const skx = layout("intel-skylake-client");
  assert.deepEqual(hostSide(zen5, 5), { offset: 832, size: 64, present: true });
  assert.deepEqual(hostSide(skx, 5), { present: false });
  assert.deepEqual(hostSide(zen5), { userSize: zen5.userSize });
});
