import assert from "node:assert/strict";
import { test } from "node:test";
import { deliveryDeviations, LINUX_FPSTATE_OFFSET } from "../../../src/core/probe/conformance.ts";
import type { FrameSeen } from "../../../src/core/probe/protocol.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";

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
