/**
 * The helper's probe driver on its own: cases written by hand, the edge the TypeScript side never
 * asks for (writes past the frame, the last bytes of the relocation area), the line protocol.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cpuid } from "../../src/core/cpuid/cpuid.ts";
import { decodeProbeOutput } from "../../src/core/probe/protocol.ts";
import { helperStatus, nativeCpuid, nativeFrame, nativeRunner, probeArgs } from "../../src/node/native.ts";

const status = helperStatus();
const needHelper = status.ok ? {} : { skip: `native helper cannot run here: ${status.reason}` };

function probe(input: string) {
  const o = nativeRunner().run(probeArgs(), input, 60_000);
  assert.equal(o.status, 0, o.stderr);
  return decodeProbeOutput(o.stdout);
}

test("helper probe: frames up to the CPU's XSAVE maximum, skips what it cannot apply", needHelper, () => {
  const cpu = new Cpuid(nativeCpuid().leaves);
  const ext = nativeFrame().bytes.length;
  const empty = probe("");
  assert.ok(empty.complete);
  assert.ok(empty.fpstateLimit >= 65536);
  if (cpu.has("XSAVE")) assert.ok(empty.fpstateLimit >= cpu.get(0xd, 0)!.ecx + 4, "room for every component");
  const r = probe(
    [
      "mxcsr 0x1f80",
      "def zero",
      "write 464 00000000",
      "enddef",
      "case past-the-end",
      "place inplace",
      `write ${ext} 00`,
      "end",
      "case last-bytes-of-the-copy",
      "place copy 0",
      `write ${empty.fpstateLimit + 4096 - 8} 0102030405060708`,
      "end",
      "case block",
      "place copy 0",
      "use zero",
      "end",
      "",
    ].join("\n"),
  );
  assert.ok(r.complete);
  const [past, last, block] = r.cases;
  assert.equal(past?.outcome, "skipped");
  assert.match(past?.skip ?? "", /past the end of the delivered frame/);
  assert.equal(last?.outcome, "returned", JSON.stringify(last?.error));
  assert.equal(last?.placed?.bytes.length, empty.fpstateLimit + 4096);
  assert.deepEqual([...last!.placed!.bytes.subarray(-8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  // The block's write landed: magic1 is gone, so sigreturn took the FXSAVE-only path.
  assert.equal(block?.outcome, "returned");
  assert.deepEqual([...block!.placed!.bytes.subarray(464, 468)], [0, 0, 0, 0]);
  assert.equal(block?.regs?.mxcsr, 0x1f80, "the registers set before the first case");
});

test("helper probe: bad input is exit 2 with the line", needHelper, () => {
  for (const [input, msg] of [
    ["case a\nuse nope\nend\n", /line 2: expected: use NAME/],
    ["def a\ncase b\n", /line 2: only write lines go inside def/],
    ["write 0 00\n", /line 1: expected: case ID/],
    ["case a\nplace copy 0\n", /missing end/],
  ] as const) {
    const o = nativeRunner().run(probeArgs(), input, 30_000);
    assert.equal(o.status, 2, input);
    assert.match(o.stderr, msg);
  }
});
