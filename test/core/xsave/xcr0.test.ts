/** A forced XCR0: what XSETBV would take, and what the CPU and the kernel release can enable. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseKernelVersion } from "../../../src/core/kernel.ts";
import { xcr0Option } from "../../../src/core/options.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { layoutHeader } from "../../../src/core/xsave/report.ts";
import { xcr0Problem } from "../../../src/core/xsave/xcr0.ts";

test("XCR0 values XSETBV or x86-64 Linux cannot have are refused, with the rule broken", () => {
  const bad: [bigint, RegExp][] = [
    [0x1n, /lacks bit 1 \(SSE\)/],
    [0x6n, /lacks bit 0 \(x87\)/],
    [0x8000000000000007n, /bit 63/],
    [0x107n, /bit 8 \(PT, a supervisor component/],
    [0x67n, /part of AVX-512/],
    [0xe3n, /AVX-512 without YMM/],
    [0xfn, /part of MPX/],
    [0x200e7n, /part of AMX/],
  ];
  for (const [x, re] of bad) assert.match(xcr0Problem(x) ?? "", re, `0x${x.toString(16)}`);
  for (const ok of [0x3n, 0x7n, 0x1fn, 0xe7n, 0x2e7n, 0x602e7n, 0x4000000000000007n])
    assert.equal(xcr0Problem(ok), undefined, `0x${ok.toString(16)}`);
  assert.throws(
    () => xcr0Option("0x1"),
    (e: Error & { input?: string }) => e.input === "--xcr0",
  );
  assert.equal(xcr0Option("0x7"), 7n);
});

test("--xcr0 restricts what the CPU and the kernel release enable: PKRU is dropped under Linux 4.2", () => {
  const icx = builtinProfile("intel-icelake-server");
  const l = computeLayout(icx, { xcr0: 0x2e7n, kernel: parseKernelVersion("4.2") });
  assert.equal(l.xcr0, 0xe7n);
  assert.equal(l.userSize, 2688);
  assert.equal(l.xcr0Source, "forced");
  assert.equal(l.xcr0Requested, 0x2e7n);
  assert.ok(
    l.warnings.some((w) => /bit 9 \(PKRU\) dropped: Linux 4\.2 predates PKRU support \(v4\.6\)/.test(w)),
  );
  assert.equal(computeLayout(icx, { xcr0: 0x2e7n, kernel: parseKernelVersion("4.6") }).xcr0, 0x2e7n);
  // Bits the CPU lacks are dropped, each with its reason.
  const hsw = computeLayout(builtinProfile("intel-haswell"), { xcr0: 0xe7n });
  assert.equal(hsw.xcr0, 0x7n);
  assert.equal(hsw.warnings.filter((w) => /dropped: not supported by this CPU/.test(w)).length, 3);
});

test("the header says a forced XCR0 is forced, never 'measured' or 'current Linux rules'", () => {
  const hsw = builtinProfile("intel-haswell");
  assert.match(layoutHeader(hsw, computeLayout(hsw)).xcr0, /current Linux rules/);
  const forced = layoutHeader(hsw, computeLayout(hsw, { xcr0: 0x3n })).xcr0;
  assert.equal(forced, "0x3 (--xcr0 0x3)");
  const measured = { ...hsw, xcr0: 0x7n };
  assert.match(layoutHeader(measured, computeLayout(measured)).xcr0, /measured XCR0/);
  const both = layoutHeader(measured, computeLayout(measured, { xcr0: 0x3n })).xcr0;
  assert.doesNotMatch(both, /measured|current Linux rules/);
  const icx = builtinProfile("intel-icelake-server");
  assert.equal(
    layoutHeader(icx, computeLayout(icx, { xcr0: 0x2e7n, kernel: parseKernelVersion("4.2") })).xcr0,
    "0xe7 (--xcr0 0x2e7 under Linux 4.2; dropped PKRU)",
  );
});
