import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseKernelVersion } from "../../../src/core/kernel.ts";
import { policiesForKernel } from "../../../src/core/sigreturn/policy.ts";
import { predict } from "../../../src/core/sigreturn/predict.ts";
import { REASONS } from "../../../src/core/sigreturn/reasons.ts";
import { POLICIES } from "../../../src/core/sigreturn/types.ts";
import { CORPUS, needs, REPO_ROOT } from "../../helpers/shared.ts";
import { corpusLayout, deliveredFrame, LOCAL } from "./fixtures.ts";

describe("policiesForKernel", () => {
  const cases: [string, string[]][] = [
    ["4.19.300", ["legacy"]],
    ["5.13.19", ["legacy"]],
    ["5.14-rc1", ["classic"]],
    ["5.14", ["classic"]],
    ["6.1.192", ["classic"]],
    ["6.12.117", ["classic"]],
    ["6.14.11", ["classic"]],
    ["6.15-rc1", ["refined"]],
    ["6.15", ["refined"]],
    ["6.16.3", ["refined"]],
    ["6.17.13", ["refined"]],
    ["6.18", ["refined"]],
    ["6.18.10", ["refined", "classic"]],
    ["6.18.44", ["classic"]],
    ["6.18.44-fc-v657", ["classic"]],
    ["6.18.60", ["classic"]],
    ["6.19", ["refined"]],
    ["6.19.5", ["refined", "classic"]],
    ["7.0.2", ["refined", "classic"]],
    ["7.1-rc5", ["refined"]],
    ["7.1-rc6", ["classic"]],
    ["7.1", ["classic"]],
    ["7.3.4", ["classic"]],
  ];
  for (const [v, want] of cases) {
    test(`${v} → ${want.join(" or ")}`, () => {
      const r = policiesForKernel(parseKernelVersion(v));
      assert.deepEqual(r.policies, want);
      if (want.length > 1) assert.ok(r.note && r.note.length > 20, "an ambiguous release says why");
    });
  }
});

describe("reason codes", () => {
  test("every code and the policy table are documented in docs/policies.md", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs", "policies.md"), "utf8");
    for (const code of Object.keys(REASONS)) assert.ok(doc.includes(`\`${code}\``), code);
    for (const v of ["6.18.44", "7.1-rc6", "dc8aa31a7ac2", "44eeff9bc467"]) assert.ok(doc.includes(v), v);
  });
});

describe("predict on hostile input", needs(CORPUS, "the CPUID corpus"), () => {
  test("never throws, always answers with a documented reason, and SIGSEGV means path fault", () => {
    const l = corpusLayout(LOCAL);
    const base = deliveredFrame(l);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.array(fc.tuple(fc.nat(2500), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.boolean(),
        fc.nat(4000),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.constantFrom(...POLICIES),
        (junk, pokes, useBase, readable, address, policy) => {
          const bytes = useBase ? base.slice() : junk;
          for (const [o, v] of pokes) if (o < bytes.length) bytes[o] = v;
          const p = predict({ fpstate: bytes, task: l, policy, readableBytes: readable, address });
          assert.ok(p.reason in REASONS);
          // SIGSEGV from a failed restore, or after it when the restored PKRU locks key 0
          assert.equal(p.signal === "SIGSEGV", p.path === "fault" || p.reason === "pkru-locks-key0");
          assert.equal(p.components.length, 6);
          assert.ok(p.source.startsWith("arch/x86/kernel/fpu/signal.c"), p.source);
        },
      ),
      { numRuns: 400 },
    );
  });
});

test("distribution kernels get the upstream base's policy and a note that backports may differ", () => {
  const cases: [string, string, RegExp][] = [
    ["5.14.0-427.el9", "classic", /Red Hat Enterprise Linux 9 .*upstream base 5\.14.*backports/],
    ["4.18.0-553.el8", "legacy", /Red Hat Enterprise Linux 8 .*upstream base 4\.18/],
    ["5.15.0-91-generic", "classic", /an Ubuntu kernel/],
    ["6.1.0-18-amd64", "classic", /a Debian kernel/],
    ["5.14.21-150500.55.19-default", "classic", /SUSE/],
    ["6.1.79-99.164.amzn2023.x86_64", "classic", /Amazon Linux 2023/],
  ];
  for (const [release, policy, re] of cases) {
    const r = policiesForKernel(parseKernelVersion(release));
    assert.deepEqual(r.policies, [policy], release);
    assert.match(r.note ?? "", re, release);
    assert.match(r.note ?? "", /'sigframe probe' on the machine measures it/, release);
  }
  // Mainline and stable releases, and kernels with a local suffix, get no such note.
  for (const release of ["6.1", "6.12.3", "7.1-rc6", "6.18.44-fc-v657", "6.6.30-custom"])
    assert.doesNotMatch(policiesForKernel(parseKernelVersion(release)).note ?? "", /distribution/, release);
});
