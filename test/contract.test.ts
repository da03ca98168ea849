/**
 * The `--json` contract cannot drift: docs/json/*.schema.json are what scripts/json-schema.ts
 * generates from the types in src/core/contract.ts, and every command's `--json` output (on
 * built-in profiles and frames made here) is valid against its schema.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { generateSchemas, SCHEMA_DIR, schemaFile } from "../scripts/json-schema.ts";
import { cpuinfo_entrySchema, cpuinfo_x86_entrySchema } from "../src/core/criu/gen/cpuinfo_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../src/core/criu/image.ts";
import { builtinProfile } from "../src/core/profiles/builtins.ts";
import { computeLayout } from "../src/core/xsave/layout.ts";
import { sigframe } from "./helpers/cli.ts";
import { validate } from "./helpers/json-schema.ts";
import { machineRuns } from "./helpers/machine-runs.ts";
import { elfCore, simulate } from "./helpers/process-core.ts";

const schemas = generateSchemas();

test("docs/json holds exactly the schemas generated from the types (npm run gen:json-schema)", () => {
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json"));
  assert.deepEqual(files.sort(), [...schemas.keys()].map(schemaFile).sort());
  for (const [name, schema] of schemas) {
    const committed = JSON.parse(readFileSync(join(SCHEMA_DIR, schemaFile(name)), "utf8"));
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
  // A process with a thread inside two nested handlers, written as a kernel core.
  const stack = 0x7ffd0000_0000n;
  const p = simulate(
    computeLayout(builtinProfile("amd-zen4")),
    [{ tid: 77, sp: stack + 0x1f000n, signals: [{ signo: 10 }, { signo: 12, regs: { ymm3: "0x1234" } }] }],
    [{ start: stack, size: 0x20000 }],
  );
  writeFileSync(file("proc.core"), elfCore(p));
  // A CRIU cpuinfo.img with one x86 entry.
  const entry = create(cpuinfo_x86_entrySchema, {
    vendorId: 2,
    cpuFamily: 25,
    model: 97,
    stepping: 2,
    capabilityVer: 2,
    capability: new Array(19).fill(0),
    modelId: "AMD EPYC",
    xfeaturesMask: 0x2e7n,
    xsaveSize: 2440,
    xsaveSizeMax: 2440,
  });
  const payload = toBinary(cpuinfo_entrySchema, create(cpuinfo_entrySchema, { x86Entry: [entry] }));
  const img = new Uint8Array(12 + payload.length);
  const dv = new DataView(img.buffer);
  dv.setUint32(0, IMG_COMMON_MAGIC, true);
  dv.setUint32(4, IMAGE_MAGICS.CPUINFO!, true);
  dv.setUint32(8, payload.length, true);
  img.set(payload, 12);
  writeFileSync(file("cpuinfo.img"), img);
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
  baseline: [["baseline", "amd-zen2", "amd-zen5", "intel-icelake-server", "--json"]],
  matrix: [["matrix", "amd-zen4", "amd-zen5", "intel-sapphirerapids", "intel-haswell", "--json"]],
  "policy-diff": [
    ["policy-diff", "classic", "refined", "--profiles", "amd-zen5", "intel-skylake-client", "--json"],
  ],
  // Measured on this machine: exit 4 where the native helper cannot run (the test says so).
  host: [["host", "--json"]],
  scan: [
    ["scan", file("proc.core"), "--json"],
    ["scan", file("proc.core"), "--save-frames", file("saved-frames"), "--json"],
    ["scan", file("zen5.frame"), "--base", "0x7ffc00000000", "--all", "--json"],
  ],
  "criu show": [
    ["criu", "show", file("cpuinfo.img"), "--json"],
    // A folder with an image in it, listed as a checkpoint.
    ["criu", "show", dir, "--json"],
  ],
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
      test(argv.join(" "), skip ? { skip } : {}, async (t) => {
        const r = await sigframe(argv);
        if (r.code === 4) return t.skip(`the environment cannot run it: ${r.err.trim()}`);
        assert.ok(r.code !== 2 && r.code !== 70, r.err);
        const errors = validate(schemas.get(name)!, JSON.parse(r.out));
        assert.deepEqual(errors, [], errors.slice(0, 10).join("\n"));
      });
    }
  }
});
