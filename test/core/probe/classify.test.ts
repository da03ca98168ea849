import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type CaseResult, verdict } from "../../../src/core/probe/analyze.ts";
import { probeCases } from "../../../src/core/probe/cases.ts";
import { classify } from "../../../src/core/probe/classify.ts";
import { patterns } from "../../../src/core/probe/patterns.ts";
import { decodeProbeOutput, encodeCases } from "../../../src/core/probe/protocol.ts";
import { initImage, isaOf, type RegImage } from "../../../src/core/probe/regions.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

const clone = (img: RegImage): RegImage => ({
  v: img.v.map((x) => x.slice()),
  k: [...img.k],
  mxcsr: img.mxcsr,
});

test("classify: patterns, init and mixtures", needs(CORPUS, "cpuid corpus"), () => {
  const p = profileFromBytes(readFileSync(join(CORPUS, "local-this-machine.json")), "local");
  const layout = computeLayout(p);
  const pat = patterns();
  const ctx = { isa: isaOf(layout), kBits: 64, layout, patterns: pat };
  assert.equal(classify(pat.F, ctx), "FFFFFF");
  assert.equal(classify(pat.A, ctx), "AAAAAA");
  assert.equal(classify(initImage(), ctx), "000000");
  const mixed = clone(pat.F);
  mixed.v[3]!.set(pat.A.v[3]!.subarray(16, 32), 16); // one YMM upper half from A
  mixed.k[7] = 0n;
  mixed.mxcsr = 0x1f80;
  assert.equal(classify(mixed, ctx), "F?FF?0");
  // Without AVX512BW only the low 16 bits of each opmask are read back.
  const k16 = clone(pat.F);
  k16.k = k16.k.map((k) => k & 0xffffn);
  assert.equal(classify(k16, { ...ctx, kBits: 16 }), "FFFFFF");
  assert.equal(classify(k16, ctx), "FFFF?F");
  assert.equal(classify(pat.F, { ...ctx, isa: "avx" as const }), "FF---F");
});

test("patterns never contain a zero byte and differ from each other", () => {
  const { A, F, C } = patterns();
  for (const img of [A, F, C]) for (const v of img.v) assert.ok(v.every((b) => b !== 0));
  assert.notDeepEqual(A.v[0], F.v[0]);
  assert.notDeepEqual(F.v[0], C.v[0]);
  assert.notEqual(A.mxcsr, F.mxcsr);
});

test(
  "encodeCases: one block per case, writes split at 4096 bytes, decode rejects foreign output",
  needs(CORPUS, "cpuid corpus"),
  () => {
    const p = profileFromBytes(readFileSync(join(CORPUS, "local-this-machine.json")), "local");
    const layout = computeLayout(p);
    const cases = probeCases({ layout, isa: "avx512", xsavec: true }).filter((c) => !c.skip);
    const big = {
      ...cases[1]!,
      id: "big",
      edit: { place: { kind: "inplace" as const }, writes: [{ offset: 0, bytes: new Uint8Array(5000) }] },
    };
    const text = encodeCases([...cases, big], patterns().A);
    assert.equal(text.match(/^case /gm)!.length, cases.length + 1);
    assert.equal(text.match(/^end$/gm)!.length, cases.length + 1);
    assert.ok(text.includes("\nplace guard "));
    assert.ok(text.includes("\nplace null\n"));
    assert.ok(text.includes("\nnested\n"));
    const bigLines = text
      .split("\ncase big\n")[1]!
      .split("\n")
      .filter((l) => l.startsWith("write "));
    assert.deepEqual(
      bigLines.map((l) => [Number(l.split(" ")[1]), l.split(" ")[2]!.length / 2]),
      [
        [0, 4096],
        [4096, 904],
      ],
    );
    assert.throws(() => decodeProbeOutput(`{"helper": "other"}\n`), /unexpected helper output/);
  },
);

test("verdict: one matching policy wins; none gives unknown with the closest", () => {
  const mk = (id: string, observed: string, c: string, r: string, l: string): CaseResult => ({
    id,
    description: id,
    observed,
    notes: [],
    predictions: {
      classic: { letters: c, path: "xrstor", reason: "", detail: "" },
      refined: { letters: r, path: "xrstor", reason: "", detail: "" },
      legacy: { letters: l, path: "xrstor", reason: "", detail: "" },
    },
  });
  const v1 = verdict([
    mk("a", "FF", "FF", "FF", "FF"),
    mk("b", "F0", "F0", "0F", "F0"),
    mk("c", "SIGSEGV", "SIGSEGV", "SIGSEGV", "F0"),
  ]);
  assert.equal(v1.policy, "classic");
  assert.equal(v1.mismatches, 0);
  assert.deepEqual(v1.byPolicy.refined, ["b"]);
  const v2 = verdict([mk("a", "FF", "FF", "FF", "FF"), mk("b", "??", "F0", "0F", "F0")]);
  assert.equal(v2.policy, "unknown");
  assert.equal(v2.mismatches, 1);
  const v3 = verdict([mk("a", "FF", "FF", "FF", "FF")]);
  assert.equal(v3.policy, "unknown");
  assert.deepEqual(v3.candidates, ["classic", "refined", "legacy"]);
  assert.equal(v3.mismatches, 0);
});
