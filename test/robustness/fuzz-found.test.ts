/**
 * Regressions for what `npm run fuzz` found (FUZZING.md lists them): each input is built here with
 * the structure of the minimised reproducer, and held to the contract's one error line naming it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { compressedForms } from "../../fuzz/seeds.ts";
import { cli } from "./harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "sigframe-fuzz-found-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `args` with the decompressors in a process of their own (the default) and in-process. */
async function bothDecoders(args: string[], input: string): Promise<string[]> {
  const saved = process.env.SIGFRAME_DECOMPRESS;
  const errs: string[] = [];
  try {
    for (const mode of [undefined, "in-process"]) {
      if (mode === undefined) delete process.env.SIGFRAME_DECOMPRESS;
      else process.env.SIGFRAME_DECOMPRESS = mode;
      const r = await cli(args, { input });
      assert.equal(r.code, 2, `${args.join(" ")} (${mode ?? "native"}): ${r.err}`);
      errs.push(r.err);
    }
  } finally {
    if (saved === undefined) delete process.env.SIGFRAME_DECOMPRESS;
    else process.env.SIGFRAME_DECOMPRESS = saved;
  }
  return errs;
}

describe("archive family", () => {
  test("compressed data that holds nothing: criu show names the file (was a bare 'the input is empty')", async () => {
    const forms = compressedForms(new Uint8Array(0));
    assert.ok(forms.length >= 3, forms.map((f) => f.label).join(", "));
    for (const [i, f] of forms.entries()) {
      const p = join(tmp, `empty-${i}.tar${f.suffix}`);
      writeFileSync(p, f.bytes);
      for (const args of [
        ["criu", "show", p, "--json"],
        ["criu", "show", p],
        ["scan", p],
        ["layout", p],
        ["check", "--checkpoint", p, "--to", "amd-zen4"],
      ])
        for (const err of await bothDecoders(args, p))
          assert.ok(err.startsWith(`sigframe: ${p}: `), `${f.label}: ${err}`);
    }
  });
});
