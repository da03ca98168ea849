/**
 * The `--json` contract cannot drift: docs/json/*.schema.json are what scripts/json-schema.ts
 * generates from the types in src/core/contract.ts, and every command's `--json` output (on
 * built-in profiles and frames made here) is valid against its schema.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateSchemas, SCHEMA_DIR } from "../scripts/json-schema.ts";
import { sigframe } from "./helpers/cli.ts";
import { validate } from "./helpers/json-schema.ts";
import { machineRuns } from "./helpers/machine-runs.ts";

const schemas = generateSchemas();

test("docs/json holds exactly the schemas generated from the types (npm run gen:json-schema)", () => {
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json"));
  assert.deepEqual(files.sort(), [...schemas.keys()].map((k) => `${k}.schema.json`).sort());
  for (const [name, schema] of schemas) {
    const committed = JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), "utf8"));
    assert.deepEqual(committed, schema, `${name}.schema.json is not current: run 'npm run gen:json-schema'`);
  }
});

test("the schema check fails on a document that departs from the type", async () => {
  const doc = JSON.parse((await sigframe(["check", "--from", "amd-zen5", "--to", "amd-zen4", "--json"])).out);
  const schema = schemas.get("check")!;
  assert.deepEqual(validate(schema, doc), []);
  const bad = structuredClone(doc);
  delete bad.verdict;
  bad.uses = 7;
  bad.extra = true;
  bad.findings.push({ code: "no_such_code", severity: "error", message: "m" });
  const errors = validate(schema, bad).join("\n");
  for (const want of [
    "missing verdict",
    "$.uses: number, expected string",
    "unexpected property extra",
    "$.findings[",
  ])
    assert.ok(errors.includes(want), `${want} not in:\n${errors}`);
});

const dir = mkdtempSync(join(tmpdir(), "sigframe-contract-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);

/** Frames made here for the commands that read one. */
before(async () => {
  for (const [cpu, name, extra] of [
    ["amd-zen5", "zen5.frame", []],
    ["intel-sapphirerapids", "spr.fpstate", ["--fpstate-only"]],
    ["amd-zen4", "ia32.frame", ["--ia32"]],
  ] as const) {
    const r = await sigframe(["build", "--cpu", cpu, ...extra, "-o", file(name)]);
    assert.equal(r.code, 0, r.err);
  }
});

/** Invocations of each command whose `--json` output is checked; every command has some. */
const RUNS: Record<string, string[][]> = {
  profiles: [["profiles", "--json"]],
  layout: [
    ["layout", "amd-zen5", "--json"],
    ["layout", "intel-sapphirerapids", "--amx", "--kernel", "5.15", "--json"],
    ["layout", "intel-icelake-server", "--xcr0", "0x7", "--json"],
  ],
  diff: [["diff", "amd-zen4", "intel-skylake-server", "--json"]],
  inspect: [
    ["inspect", file("zen5.frame"), "--cpu", "amd-zen5", "--json"],
    ["inspect", file("spr.fpstate"), "--fpstate-only", "--json"],
    ["inspect", file("ia32.frame"), "--ia32", "--cpu", "amd-zen4", "--json"],
  ],
  predict: [
    ["predict", file("zen5.frame"), "--cpu", "intel-icelake-server", "--policy", "classic", "--json"],
    ["predict", file("spr.fpstate"), "--cpu", "intel-sapphirerapids", "--all-policies", "--json"],
    ["predict", file("ia32.frame"), "--ia32", "--cpu", "amd-zen4", "--kernel", "6.16", "--json"],
  ],
  check: [
    ["check", "--from", "amd-zen5", "--to", "intel-icelake-server", "--json"],
    ["check", "--from", "intel-sapphirerapids", "--to", "amd-zen2", "--policy", "refined", "--json"],
    ["check", "--from", "amd-zen4", "--to", "amd-zen4", "--kernel", "6.18", "--restorer", "none", "--json"],
  ],
  translate: [
    [
      "translate",
      file("zen5.frame"),
      "--from",
      "amd-zen5",
      "--to",
      "intel-icelake-server",
      "-o",
      file("a"),
      "--json",
    ],
    [
      "translate",
      file("spr.fpstate"),
      "--from",
      "intel-sapphirerapids",
      "--to",
      "amd-zen2",
      "--fpstate-only",
    ].concat(["--style", "criu", "--policy", "refined", "-o", file("b"), "--json"]),
  ],
  ...machineRuns.runs,
};

describe("every command's --json output is valid against its schema", () => {
  test("every command of the contract is exercised", () => {
    assert.deepEqual(Object.keys(RUNS).sort(), [...schemas.keys()].sort());
  });
  for (const [name, runs] of Object.entries(RUNS)) {
    for (const argv of runs) {
      const skip = machineRuns.skip(argv);
      test(argv.join(" "), skip ? { skip } : {}, async () => {
        const r = await sigframe(argv);
        assert.ok(r.code !== 2 && r.code !== 70, r.err);
        const errors = validate(schemas.get(name)!, JSON.parse(r.out));
        assert.deepEqual(errors, [], errors.slice(0, 10).join("\n"));
      });
    }
  }
});
