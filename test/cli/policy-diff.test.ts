import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { diffFrames, policyDiff } from "../../src/core/compat/index.ts";
import { predict } from "../../src/core/sigreturn/index.ts";
import { componentByName, XSAVE_HDR_OFFSET } from "../../src/core/xsave/components.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { readProfile } from "../../src/node/profile-source.ts";
import { sf } from "../helpers/cli.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

test(
  "policy-diff classic refined over the corpus: the regression first; examples saved and reproducible",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "sf-pdiff-"));
    const r = await sf(
      "policy-diff",
      "classic",
      "refined",
      "--profiles",
      CORPUS,
      "--json",
      "--save-examples",
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.groups[0].cause, "xstate_size < user_size: xrstor → fxrstor-fallback(magic2-mismatch)");
    const files = readdirSync(dir).sort();
    assert.equal(files.filter((f) => f.endsWith(".json")).length, j.groups.length);
    // The saved example, replayed through the model, gives the recorded outcomes.
    const meta = JSON.parse(
      readFileSync(join(dir, files.find((f) => f.startsWith("01-") && f.endsWith(".json"))!), "utf8"),
    );
    const bytes = new Uint8Array(readFileSync(join(dir, meta.fpstate)));
    const task = computeLayout(readProfile(join(CORPUS, `${meta.task}.json`)));
    assert.equal(predict({ fpstate: bytes, task, policy: "classic" }).path, meta.classic.path);
    assert.equal(predict({ fpstate: bytes, task, policy: "refined" }).path, meta.refined.path);
  },
);

test("policy-diff defaults to the built-in profiles; human output", async () => {
  const r = await sf("policy-diff", "classic", "refined");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^classic vs refined: \d+ of \d+ frames differ/);
  assert.match(
    r.out,
    /^1\. xstate_size < user_size: classic restores with XRSTOR, refined falls back to FX-only \(magic2-mismatch\)/m,
  );
  const bad = await sf("policy-diff", "classic", "newest");
  assert.equal(bad.code, 2);
});

test("policy-diff: 'lost' is state the frame carried, never a component init in it", async () => {
  const hosts = ["amd-zen4", "intel-haswell", "intel-icelake-server", "intel-sapphirerapids"].map((name) => ({
    name,
    layout: computeLayout(readProfile(name)),
  }));
  const r = policyDiff("classic", "refined", hosts, predict);
  assert.ok(r.groups.length > 0);
  const bvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(XSAVE_HDR_OFFSET, true);
  for (const g of r.groups) {
    const f = g.example.frame;
    assert.ok(f.fpstate);
    const carried = bvOf(f.fpstate) | 3n;
    for (const name of [...g.example.lostUnderP, ...g.example.lostUnderQ]) {
      if (name === "(SIGSEGV)") continue;
      const bit = componentByName(name)!.bit;
      assert.equal((carried >> BigInt(bit)) & 1n, 1n, `${g.cause}: ${name} was init in ${f.id}`);
    }
    // The example shows the difference: what is lost differs between the two policies.
    assert.notDeepEqual(g.example.lostUnderP, g.example.lostUnderQ, g.cause);
  }
  // CRIU's frame for a process using only x87/SSE on Haswell: refined falls back to FX-only, but
  // YMM was init in the frame, so neither policy loses anything.
  const { frames, tasks } = diffFrames(hosts);
  const criu = frames.find((f) => f.id === "intel-haswell/criu/3")!;
  const task = tasks.get("intel-haswell")!;
  const c = predict({ fpstate: criu.fpstate, task, policy: "classic" });
  const q = predict({ fpstate: criu.fpstate, task, policy: "refined" });
  assert.equal(q.path, "fxrstor-fallback");
  assert.deepEqual([c.lost, q.lost], [[], []]);
  const out = await sf("policy-diff", "classic", "refined", "--profiles", ...hosts.map((h) => h.name));
  assert.doesNotMatch(out.out, /CRIU's frame on intel-haswell for a process using 0x3/);
  assert.match(out.out, /^ {5}refined +fxrstor-fallback +magic2-mismatch +YMM$/m);
});
