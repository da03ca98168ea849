/**
 * Regressions for what `npm run fuzz` found (FUZZING.md lists them): each input is built here with
 * the structure of the minimised reproducer, and held to the contract's one error line naming it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { compressedForms, profileJsonBytes } from "../../fuzz/seeds.ts";
import { Cpuid } from "../../src/core/cpuid/cpuid.ts";
import { InvalidDataError } from "../../src/core/errors.ts";
import { profileFromCpuid } from "../../src/core/profile.ts";
import { builtinProfile, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
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

describe("profile-json family", () => {
  /** amd-zen4's leaves with CPUID(0xD,5) (OPMASK, a user component) changed as given. */
  const opmask = (ebx: number, ecx: number) =>
    builtinProfile("amd-zen4").cpuid.leaves.map((l) =>
      l.leaf === 0xd && l.subleaf === 5 ? { ...l, ebx: ebx >>> 0, ecx } : { ...l },
    );

  test("a user component whose sub-leaf sets the supervisor bit, at offset 0xffffffff: refused (was exit 70, a 4 GiB buffer)", async () => {
    const leaves = opmask(0xffffffff, 1);
    const index = leaves.findIndex((l) => l.leaf === 0xd && l.subleaf === 5);
    const text = profileJsonBytes({ ...builtinProfile("amd-zen4"), cpuid: new Cpuid(leaves) });
    assert.throws(
      () => profileFromBytes(text, "p.json"),
      (e: unknown) =>
        e instanceof InvalidDataError &&
        e.path === `cpuid/${index}/ebx` &&
        /OPMASK at offset 4294967295 \(64 bytes\) ends past/.test(e.message),
    );
    const p = join(tmp, "opmask-supervisor.json");
    writeFileSync(p, text);
    for (const args of [
      ["check", "--from", p, "--to", "amd-zen4", "--json"],
      ["check", "--from", "intel-sapphirerapids", "--to", p],
      ["build", "--cpu", p, "-o", join(tmp, "o.bin")],
    ]) {
      const r = await cli(args, { input: p });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.ok(r.err.startsWith(`sigframe: ${p}: cpuid/${index}/ebx: `), r.err);
    }
  });

  test("the supervisor bit does not exempt a user component from the legacy-area bound; a profile built in code leaves it out", async () => {
    for (const ebx of [0, 4, 0xffffffff]) {
      const p = profileFromCpuid(new Cpuid(opmask(ebx, 1)), "x", { kind: "builtin" });
      const l = computeLayout(p);
      const c = l.components.find((x) => x.bit === 5)!;
      assert.equal(c.enabled, false, `OPMASK at ${ebx}`);
      assert.ok(
        l.warnings.some((w) => /OPMASK/.test(w)),
        l.warnings.join("\n"),
      );
    }
    // The same leaf without the supervisor bit at a real offset is read as it is.
    const real = computeLayout(profileFromCpuid(new Cpuid(opmask(832, 0)), "x", { kind: "builtin" }));
    assert.equal(real.components.find((x) => x.bit === 5)!.offset, 832);
  });
});
