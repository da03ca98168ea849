import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { predict } from "../../src/core/sigreturn/index.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { loadProfile } from "../../src/node/profile-source.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

async function sf(...argv: string[]) {
  const io = memoryIo();
  const code = await run(argv, io);
  return { code, out: io.out, err: io.err };
}

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
    const task = computeLayout(loadProfile(join(CORPUS, `${meta.task}.json`)));
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
