import assert from "node:assert/strict";
import { test } from "node:test";
import { describeObserved } from "../../../src/core/probe/words.ts";

test("describeObserved names the common outcomes and lists the rest region by region", () => {
  assert.equal(describeObserved("FFFFFF"), "every register from the frame");
  assert.equal(describeObserved("FF---F"), "every register from the frame");
  assert.equal(
    describeObserved("AA---A"),
    "nothing restored: every register kept its value from before the signal",
  );
  assert.equal(describeObserved("000000"), "every register reset to init");
  assert.equal(describeObserved("F0000F"), "XMM and MXCSR from the frame, the rest reset to init (FX-only)");
  assert.equal(describeObserved("F0---F"), "XMM and MXCSR from the frame, the rest reset to init (FX-only)");
  assert.equal(describeObserved("FF000F"), "x87/SSE/AVX from the frame, AVX-512 state reset to init");
  assert.equal(describeObserved("0F---F"), "XMM reset to init; YMM upper halves, MXCSR from the frame");
  assert.match(
    describeObserved("FFFFMF"),
    /^XMM, YMM upper halves, ZMM upper halves, zmm16-31, MXCSR from the frame; k0-7 loaded from the frame's bytes/,
  );
  assert.equal(describeObserved("SIGSEGV"), "killed by SIGSEGV");
  assert.equal(describeObserved("exit 127"), "exited with status 127 before reading its registers back");
  assert.match(describeObserved("crashed"), /runtime itself died/);
  assert.match(describeObserved("timeout"), /timeout/);
});
