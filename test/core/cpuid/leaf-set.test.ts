import assert from "node:assert/strict";
import { test } from "node:test";
import { LeafSet } from "../../../src/core/cpuid/cpuid.ts";

test("LeafSet: a brand written to 0x80000002..4 reads back through Cpuid.brand(), cut at 47 characters", () => {
  for (const brand of ["AMD EPYC 9R45 64-Core Processor", "x".repeat(60)]) {
    const s = new LeafSet();
    s.setBrand(brand);
    s.leaf(0x80000000).eax = 0x80000004;
    const c = s.build();
    assert.equal(c.brand(), brand.slice(0, 47));
    assert.deepEqual(
      c.leaves.map((l) => l.leaf),
      [0x80000000, 0x80000002, 0x80000003, 0x80000004],
    );
  }
});

test("LeafSet: one leaf per (leaf, subleaf), built in order", () => {
  const s = new LeafSet();
  s.leaf(0xd, 2).eax = 256;
  s.leaf(7).ebx = 1;
  s.leaf(0xd, 0).ebx = 832;
  s.leaf(0xd, 2).ebx = 576;
  const c = s.build();
  assert.deepEqual(
    c.leaves.map((l) => [l.leaf, l.subleaf]),
    [
      [7, 0],
      [0xd, 0],
      [0xd, 2],
    ],
  );
  assert.equal(c.get(0xd, 2)?.eax, 256);
  assert.equal(c.get(0xd, 2)?.ebx, 576);
});
