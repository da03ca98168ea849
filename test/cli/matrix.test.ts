import assert from "node:assert/strict";
import { test } from "node:test";
import { corpusPath } from "../core/compat/pairs.ts";
import { sf } from "../helpers/cli.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

test("matrix --csv: host × host verdicts", needs(CORPUS, "cpuid corpus"), async () => {
  const r = await sf(
    "matrix",
    corpusPath("haswell"),
    corpusPath("icelakeSp"),
    corpusPath("genoa"),
    "--csv",
    "--policy",
    "classic",
  );
  assert.equal(r.code, 0, r.err);
  const rows = r.out
    .trimEnd()
    .split("\n")
    .map((l) => l.split(","));
  assert.equal(rows.length, 4);
  assert.deepEqual(rows[0]!.slice(1), [
    "intel-core-i7-4770-cpu-3-40ghz",
    "intel-xeon-platinum-8351n-cpu-2-40ghz",
    "amd-epyc-9654-96-core-processor",
  ]);
  assert.equal(rows[1]![2], "warnings", "Haswell → Ice Lake-SP under classic: glibc's XSAVE area");
  assert.equal(rows[2]![1], "incompatible", "Ice Lake-SP → Haswell");
  assert.equal(rows[2]![3], "incompatible", "Ice Lake-SP → Genoa: AVX-512 offsets differ");
});

test(
  "matrix over the corpus folder: grouped, JSON, one verdict per pair of layouts",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const r = await sf("matrix", CORPUS, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.ok(j.hosts.length > 250);
    // The work is one check per pair of distinct layouts, not per pair of hosts.
    assert.ok(j.groups.length < 40);
    assert.equal(j.cells.length, j.groups.length);
    for (const row of j.cells) assert.equal(row.length, j.groups.length);
    const human = await sf("matrix", CORPUS);
    assert.match(human.out, /distinct layouts/);
    assert.match(human.out, /host pairs: \d+ compatible, \d+ with warnings, \d+ incompatible/);
  },
);

test("matrix: one format only", async () => {
  const r = await sf("matrix", "amd-zen4", "--json", "--csv");
  assert.equal(r.code, 2);
});

test("a folder whose files are all bad: one error line naming the folder, no warnings before it", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "sigframe-matrix-"));
  try {
    writeFileSync(join(dir, "bad.json"), "{");
    writeFileSync(join(dir, "empty.txt"), "");
    const r = await sf("matrix", dir);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    const lines = r.err.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.err);
    assert.match(
      lines[0]!,
      new RegExp(`^sigframe: ${dir}: no readable profile in this folder \\(2 files skipped; `),
    );
    // An empty folder says so.
    rmSync(join(dir, "bad.json"));
    rmSync(join(dir, "empty.txt"));
    const e = await sf("baseline", dir);
    assert.equal(e.code, 2);
    assert.match(e.err, new RegExp(`^sigframe: ${dir}: no profile files`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("one host is '1 host', one layout '1 distinct layout'", async () => {
  const r = await sf("matrix", "amd-zen4");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^1 host, 1 distinct layout;/);
  const two = await sf("matrix", "amd-zen4", "amd-zen5");
  assert.match(two.out, /^2 hosts, 1 distinct layout;/);
});

test("an empty folder is bad input for every fleet command, alone or beside other hosts", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "sigframe-empty-fleet-"));
  try {
    for (const argv of [
      ["baseline", dir],
      ["baseline", "amd-zen4", dir],
      ["matrix", dir],
      ["matrix", "amd-zen4", "intel-haswell", dir],
      ["policy-diff", "classic", "refined", "--profiles", dir],
      ["policy-diff", "classic", "refined", "--profiles", "amd-zen4", dir],
    ]) {
      const r = await sf(...argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.equal(r.out, "", argv.join(" "));
      assert.match(r.err, new RegExp(`^sigframe: ${dir}: no profile files`), argv.join(" "));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
