import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { InvalidDataError } from "../../../src/core/errors.ts";
import { parseJsonText } from "../../../src/core/json.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { PROFILE_FORMAT, profileFromJson, profileToJson } from "../../../src/core/profiles/json.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

const local = join(CORPUS, "local-this-machine.json");

test(
  "corpus JSON → profile → sigframe-profile/1 → profile keeps every leaf and XCR0",
  needs(CORPUS, "cpuid corpus"),
  () => {
    const p = profileFromBytes(readFileSync(local), "local");
    assert.equal(p.source.kind, "corpus");
    assert.equal(p.xcr0, 0xe7n);
    const doc = profileToJson(p);
    assert.equal(doc.format, PROFILE_FORMAT);
    const q = profileFromJson(JSON.parse(JSON.stringify(doc)), "saved.json");
    assert.equal(q.source.kind, "sigframe-profile");
    assert.deepEqual(q.cpuid.leaves, p.cpuid.leaves);
    assert.equal(q.xcr0, p.xcr0);
    assert.deepEqual(computeLayout(q), computeLayout(p));
  },
);

test("schema failures name the JSON path", () => {
  const bad = {
    format: PROFILE_FORMAT,
    name: "x",
    vendor: "GenuineIntel",
    family: 6,
    model: 85,
    stepping: 4,
    cpuid: [{ leaf: "0x0", subleaf: "0x0", eax: "0xd", ebx: "0x0", ecx: "zz", edx: "0x0" }],
  };
  assert.throws(
    () => profileFromJson(bad, "p.json"),
    (e: unknown) => e instanceof InvalidDataError && e.path === "cpuid/0/ecx" && e.input === "p.json",
  );
  assert.throws(
    () => profileFromJson({ ...bad, format: "sigframe-profile/9" }, "p.json"),
    (e: unknown) => e instanceof InvalidDataError && e.path === "format",
  );
  assert.throws(() => profileFromJson({ hello: 1 }, "p.json"), InvalidDataError);
});

test("invalid JSON reports the line", () => {
  const text = '{\n  "format": "sigframe-profile/1",\n  "name": oops\n}';
  assert.throws(
    () => profileFromBytes(new TextEncoder().encode(text), "p.json"),
    (e: unknown) => e instanceof InvalidDataError && e.line === 3,
  );
});

test("JSON nested a million deep is refused before it is parsed: line, column, no JSON.parse", () => {
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (...args: Parameters<typeof parse>) => {
    parses++;
    return parse(...args);
  };
  try {
    for (const text of [
      `${"[".repeat(1e6)}${"]".repeat(1e6)}`,
      // Half a million objects deep: 3 MB, under the JSON profile size limit.
      `${'{"a":'.repeat(5e5)}1${"}".repeat(5e5)}`,
    ]) {
      assert.throws(
        () => profileFromBytes(new TextEncoder().encode(text), "deep.json"),
        (e: unknown) =>
          e instanceof InvalidDataError && e.line === 1 && /nested more than 512 deep/.test(e.message),
      );
    }
  } finally {
    JSON.parse = parse;
  }
  assert.equal(parses, 0, "the nesting check refuses the document before JSON.parse builds it");
  // Brackets inside strings do not count, and 512 levels are still read.
  const ok = `${"[".repeat(511)}{"name": "${"[".repeat(2000)}\\"["}${"]".repeat(511)}`;
  assert.ok(Array.isArray(parseJsonText(ok, "ok.json")));
  assert.throws(() => parseJsonText(`${"[".repeat(513)}${"]".repeat(513)}`, "deep"), InvalidDataError);
});

test("sigframe-profile/1 keeps the AMX task's observed frame (host where XCR0 has tile data)", () => {
  const p = BUILTIN_PROFILES.find((b) => b.name === "intel-sapphirerapids")!.build();
  p.observed = { xstateSize: 2816, extendedSize: 2820, xfeatures: 0x202e7n, fpstateOffset: 448 };
  p.observedAmx = {
    xstateSize: 11008,
    extendedSize: 11012,
    xfeatures: 0x602e7n,
    fpstateOffset: 448,
    xstateBv: 0x602a3n,
  };
  const back = profileFromJson(JSON.parse(JSON.stringify(profileToJson(p))), "saved.json");
  assert.deepEqual(back.observedAmx, p.observedAmx);
  assert.deepEqual(back.observed, p.observed);
});
