/** The contract's error line: one line, no escaped newline from commander, nothing named twice. */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { InvalidDataError, UsageError } from "../../src/core/errors.ts";
import { sf } from "../helpers/cli.ts";

/** `a: a: ` anywhere in the line: a name said twice. */
function doubled(line: string): string | undefined {
  const parts = line.split(": ");
  for (let i = 1; i < parts.length; i++) if (parts[i] === parts[i - 1]) return parts[i];
  return undefined;
}

test("a mistyped command gets commander's suggestion on the same line, not an escaped newline", async () => {
  const r = await sf("layuot");
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.ok(!r.err.includes("\\u000a"), r.err);
  assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
  assert.match(r.err, /unknown command 'layuot' \(Did you mean layout\?\)/);
});

test("a mistyped option too", async () => {
  const r = await sf("inspect", "--bsae", "1", "x");
  assert.equal(r.code, 2);
  assert.ok(!r.err.includes("\\u000a"), r.err);
  assert.match(r.err, /unknown option '--bsae' \(Did you mean --base\?\)/);
});

test("an option value error names the option once", async () => {
  const r = await sf("layout", "intel-haswell", "--xcr0", "0x10000000000000000");
  assert.equal(r.code, 2);
  assert.equal(r.err, "sigframe: --xcr0: larger than 64 bits: 0x10000000000000000\n");
  const k = await sf("check", "--from", "intel-haswell", "--to", "amd-zen4", "--uses", "zz");
  assert.equal(k.err, 'sigframe: --uses: not a number: "zz"\n');
});

test("a STATE.json register error names the register once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-err-"));
  const state = join(dir, "s.json");
  writeFileSync(state, JSON.stringify({ ymm3: "zz" }));
  const r = await sf("build", "--cpu", "intel-haswell", "--state", state, "-o", join(dir, "o.bin"));
  assert.equal(r.code, 2);
  assert.equal(doubled(r.err.trimEnd()), undefined, r.err);
  assert.match(r.err, /ymm3: not a number/);
});

test("binary input that is no profile: the reason comes first, no offset where a reason belongs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-err-"));
  const f = join(dir, "rnd.bin");
  writeFileSync(f, Uint8Array.from([0x41, 0x42, 0x43, 0x03, 0xff]));
  const r = await sf("layout", f);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /^sigframe: [^:]*rnd\.bin: not a recognised profile format: binary data \(control byte 0x03 at offset 3\)/,
  );
});

test("the error model drops a repeated field or input name from the message", () => {
  assert.equal(
    new UsageError("--xcr0: larger than 64 bits: 0x1", { input: "--xcr0" }).oneLine(),
    "sigframe: --xcr0: larger than 64 bits: 0x1",
  );
  assert.equal(
    new InvalidDataError("ymm3: not a number", { input: "s.json", path: "ymm3" }).oneLine(),
    "sigframe: s.json: ymm3: not a number",
  );
  // A message that merely mentions the name later keeps it.
  assert.equal(
    new InvalidDataError("bad ymm3: x", { input: "s.json", path: "ymm3" }).oneLine(),
    "sigframe: s.json: ymm3: bad ymm3: x",
  );
});

test("no error line of a sweep of bad invocations escapes a newline or names a thing twice", async () => {
  const runs: string[][] = [
    ["nosuch"],
    ["layout"],
    ["layout", "intel-haswell", "--kernel", "x"],
    ["layout", "intel-haswell", "--xcr0", "-1"],
    ["predict"],
    ["check", "--to", "intel-haswell"],
    ["diff", "intel-haswell"],
    ["inspect", "--base", "zz", "x"],
    ["translate", "--from", "amd-zen4"],
  ];
  for (const argv of runs) {
    const r = await sf(...argv);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`);
    const line = r.err.trimEnd();
    assert.equal(line.split("\n").length, 1, line);
    assert.ok(!line.includes("\\u000a"), line);
    assert.equal(doubled(line), undefined, line);
  }
});
