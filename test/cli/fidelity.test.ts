/**
 * Where a real process dies or loses state after a restore, at the CLI: PKRU locking key 0,
 * frames cut at a guard page, sigaltstacks too small for the destination's frame, glibc's
 * lazy-binding XSAVE area.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-fidelity-"));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const code = await run(args, io);
  return { code, out: io.out, err: io.err };
}

describe("PKRU that locks protection key 0", () => {
  const state = join(dir, "pkru.json");
  const frame = join(dir, "pkru.bin");
  writeFileSync(state, JSON.stringify({ ymm1: "0x1234", pkru: "0x1c0011" }));

  test("build warns, inspect reports, predict answers SIGSEGV with SEGV_PKUERR", async () => {
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--fpstate-only",
      "-o",
      frame,
    ]);
    assert.equal(b.code, 0, b.err);
    assert.match(b.err, /^sigframe: warning: PKRU 0x1c0011 sets access-disable for protection key 0/m);

    const i = await cli(["inspect", frame, "--cpu", "intel-icelake-server", "--json"]);
    assert.ok(
      JSON.parse(i.out).findings.some((f: { code: string }) => f.code === "pkru-locks-key0"),
      i.out,
    );

    const p = await cli(["predict", frame, "--cpu", "intel-icelake-server", "--policy", "classic", "--json"]);
    assert.equal(p.code, 0, p.err);
    const j = JSON.parse(p.out);
    assert.equal(j.signal, "SIGSEGV");
    assert.equal(j.siCode, 4);
    assert.equal(j.pkru, "0x1c0011");
    assert.equal(j.reason, "pkru-locks-key0");
    assert.equal(j.path, "xrstor");

    const human = await cli([
      "predict",
      frame,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "refined",
      "--fail-on-loss",
    ]);
    assert.equal(human.code, 3);
    assert.match(human.out, /XRSTOR, then SIGSEGV \(si_code 4\)/);
  });

  test("translate to another layout notes the source's PKRU", async () => {
    const out = join(dir, "pkru-zen4.bin");
    const t = await cli([
      "translate",
      frame,
      "--from",
      "intel-icelake-server",
      "--to",
      "amd-zen4",
      "-o",
      out,
    ]);
    assert.match(`${t.out}\n${t.err}`, /protection key 0/);
    void readFileSync;
  });
});
