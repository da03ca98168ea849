import assert from "node:assert/strict";
import { test } from "node:test";
import { corpusPath } from "../core/compat/pairs.ts";
import { sf } from "../helpers/cli.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

test(
  "baseline --json: Genoa + Ice Lake-SP share only x87/SSE/YMM",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const r = await sf("baseline", corpusPath("genoa"), corpusPath("icelakeSp"), "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.mask, "0x7");
    assert.equal(j.frameSize, 832);
    assert.ok(
      j.excluded.some(
        (e: { name: string; reason: string }) =>
          e.name === "PKRU" && /2432/.test(e.reason) && /2688/.test(e.reason),
      ),
    );
  },
);

test("baseline human output names the excluding hosts", needs(CORPUS, "cpuid corpus"), async () => {
  const r = await sf("baseline", corpusPath("zen3"), corpusPath("zen2"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /portable across 2 hosts: 0x7 \(x87, SSE, YMM\), frames of 832 bytes/);
  assert.match(r.out, /PKRU\s+absent on amd-epyc-7742-64-core-processor/);
});

test("baseline of built-in profiles", async () => {
  const r = await sf("baseline", "intel-skylake-server", "intel-icelake-server", "--json");
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).frameSize, 2696);
});
