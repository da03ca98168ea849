import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { expectedFinalBytes } from "../../../src/core/probe/analyze.ts";
import {
  CASE_IDS,
  type ProbeCase,
  probeCases,
  regionWrites,
  smallerFrame,
} from "../../../src/core/probe/cases.ts";
import { classify, simulate } from "../../../src/core/probe/classify.ts";
import { patterns } from "../../../src/core/probe/patterns.ts";
import { type Isa, isaOf, standardOffset } from "../../../src/core/probe/regions.ts";
import type { Profile } from "../../../src/core/profile.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { predict } from "../../../src/core/sigreturn/index.ts";
import type { Policy } from "../../../src/core/sigreturn/types.ts";
import { componentOf, computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

const corpus = (f: string): Profile => profileFromBytes(readFileSync(join(CORPUS, f)), f);

/** Layouts of very different CPUs: AMD Zen 5 (this machine), Intel SKX, AVX2-only, SSE-only. */
const LAYOUTS: [string, string][] = [
  ["zen5", "local-this-machine.json"],
  ["skx", "intel-xeon-platinum-8180-cpu-2-50ghz.json"],
  ["avx2", "intel-core-i7-4770-cpu-3-40ghz.json"],
  ["sse", "intel-celeron-j6412-2-00ghz.json"],
];

function load(file: string): { profile: Profile; layout: XsaveLayout; isa: Isa; cases: ProbeCase[] } {
  const profile = corpus(file);
  const layout = computeLayout(profile, { kernel: { major: 6, minor: 18, patch: 44, text: "6.18.44" } });
  const isa = isaOf(layout);
  return { profile, layout, isa, cases: probeCases({ layout, isa, xsavec: profile.cpuid.has("XSAVEC") }) };
}

/** The frame the kernel writes for pattern A on this layout (save_xstate_epilog(), XSAVE). */
function kernelFrame(layout: XsaveLayout, isa: Isa): Uint8Array {
  const U = layout.userSize;
  const b = new Uint8Array(U + 4);
  const dv = new DataView(b.buffer);
  const A = patterns().A;
  for (const w of regionWrites(isa, A, (r) => standardOffset(layout, r))) b.set(w.bytes, w.offset);
  dv.setUint32(28, 0xffff, true);
  dv.setUint32(464, 0x46505853, true);
  dv.setUint32(468, U + 4, true);
  dv.setBigUint64(472, layout.userFeatures, true);
  dv.setUint32(480, U, true);
  dv.setBigUint64(512, layout.userFeatures, true);
  dv.setUint32(U, 0x46505845, true);
  return b;
}

/** What the model says a case gives on this layout, as region letters. */
function lettersFor(c: ProbeCase, layout: XsaveLayout, isa: Isa, policy: Policy): string {
  const delivered = kernelFrame(layout, isa);
  const place = c.edit.place;
  if (place.kind === "null") {
    const p = predict({ fpstate: null, task: layout, policy });
    return classify(simulate(p, null, layout, isa)!, { isa, kBits: 64, layout, patterns: patterns() });
  }
  const readable = place.kind === "guard" ? place.readable : place.kind === "copy" ? 65536 : delivered.length;
  const bytes = expectedFinalBytes(delivered, c.edit, readable);
  const address = place.kind === "copy" ? 0x7f0000000000n + BigInt(place.align) : 0x7ffc00000000n;
  const p = predict({
    fpstate: bytes,
    address,
    readableBytes: readable,
    task: layout,
    policy,
    mxcsrMask: 0xffff,
  });
  const img = simulate(p, bytes, layout, isa);
  return img ? classify(img, { isa, kBits: 64, layout, patterns: patterns(), frame: bytes }) : "SIGSEGV";
}

for (const [name, file] of LAYOUTS) {
  test(
    `cases on ${name}: every edit stays inside the frame it targets`,
    needs(CORPUS, "cpuid corpus"),
    () => {
      const { layout, cases } = load(file);
      const U = layout.userSize;
      assert.deepEqual(
        cases.map((c) => c.id),
        [...CASE_IDS],
      );
      for (const c of cases.filter((x) => !x.skip)) {
        const p = c.edit.place;
        const limit = p.kind === "inplace" ? U + 4 : p.kind === "guard" ? p.readable : 65536;
        for (const w of c.edit.writes) {
          assert.ok(
            w.offset >= 0 && w.offset + w.bytes.length <= limit,
            `${c.id}: write ${w.offset}+${w.bytes.length} > ${limit}`,
          );
        }
        if (p.kind === "guard")
          assert.equal(p.readable % 64, 0, `${c.id}: guard placement keeps 64-byte alignment`);
      }
    },
  );

  test(
    `cases on ${name}: the policy separator tells classic from refined`,
    needs(CORPUS, "cpuid corpus"),
    () => {
      const { layout, isa, cases } = load(file);
      const sep = cases.find((c) => c.id === "policy-separator")!;
      if (!layout.xsave) {
        assert.ok(sep.skip);
        return;
      }
      assert.equal(sep.skip, undefined);
      const classic = lettersFor(sep, layout, isa, "classic");
      const refined = lettersFor(sep, layout, isa, "refined");
      assert.notEqual(classic, refined);
      assert.equal(classic[0], "F", "classic falls back to FXRSTOR: XMM from the frame");
      assert.equal(refined[0], "0", "refined takes XRSTOR with SSE clear in xstate_bv: XMM init");
      // The untouched frame comes back unchanged and the patterns come back in full under every policy.
      for (const pol of ["classic", "refined", "legacy"] as const) {
        const regions = isa === "avx512" ? "AAAAAA" : isa === "avx" ? "AA---A" : "A----A";
        assert.equal(lettersFor(cases.find((c) => c.id === "untouched")!, layout, isa, pol), regions);
        assert.equal(
          lettersFor(cases.find((c) => c.id === "patterns")!, layout, isa, pol),
          regions.replaceAll("A", "F"),
        );
      }
    },
  );
}

test("SKX: pattern writes use Intel's offsets from CPUID, not AMD's", needs(CORPUS, "cpuid corpus"), () => {
  const { layout, isa, cases } = load("intel-xeon-platinum-8180-cpu-2-50ghz.json");
  assert.equal(isa, "avx512");
  const offs = cases.find((c) => c.id === "patterns")!.edit.writes.map((w) => w.offset);
  for (const bit of [2, 5, 6, 7])
    assert.ok(offs.includes(componentOf(layout, bit)!.offset), `component ${bit}`);
  assert.ok(!offs.includes(832), "832 is AMD's opmask offset; on SKX it is in the MPX area");
  // The smaller frame is the AVX-only one; on SKX its magic2 lands in BNDREGS (not loaded), so the
  // all-features variant restores everything from the frame.
  assert.deepEqual(smallerFrame(layout), { mask: 0x7n, size: 832 });
  const allFeat = cases.find((c) => c.id === "small-frame-all-features")!;
  assert.equal(lettersFor(allFeat, layout, isa, "classic"), "FFFFFF");
});

test("Zen 5: the smaller-frame cases reproduce the research table", needs(CORPUS, "cpuid corpus"), () => {
  const { layout, isa, cases } = load("local-this-machine.json");
  const get = (id: string) => cases.find((c) => c.id === id)!;
  assert.equal(lettersFor(get("small-frame"), layout, isa, "classic"), "FF000F");
  assert.equal(lettersFor(get("small-frame"), layout, isa, "refined"), "F0000F");
  assert.equal(lettersFor(get("small-frame-all-features"), layout, isa, "classic"), "FFFFMF");
  assert.equal(lettersFor(get("small-frame-guard"), layout, isa, "refined"), "SIGSEGV");
  assert.equal(lettersFor(get("small-frame-magic2-at-user"), layout, isa, "classic"), "F0000F");
});

test(
  "AVX2-only: no AVX-512 regions, a 576-byte smaller frame, offsets within 832",
  needs(CORPUS, "cpuid corpus"),
  () => {
    const { layout, isa, cases } = load("intel-core-i7-4770-cpu-3-40ghz.json");
    assert.equal(isa, "avx");
    assert.equal(layout.userSize, 832);
    assert.deepEqual(smallerFrame(layout), { mask: 0x3n, size: 576 });
    for (const w of cases.find((c) => c.id === "patterns")!.edit.writes)
      assert.ok(w.offset + w.bytes.length <= 832);
    assert.equal(
      lettersFor(cases.find((c) => c.id === "xstate-bv-ymm-clear")!, layout, isa, "classic"),
      "F0---F",
    );
    const ran = cases.filter((c) => !c.skip);
    assert.ok(ran.length >= 30, `${ran.length} cases run`);
  },
);

test(
  "SSE-only: smaller-frame and YMM cases are skipped with a reason, the rest still run",
  needs(CORPUS, "cpuid corpus"),
  () => {
    const { layout, isa, cases } = load("intel-celeron-j6412-2-00ghz.json");
    assert.equal(isa, "sse");
    assert.equal(layout.userSize, 576);
    assert.equal(smallerFrame(layout), undefined);
    const skipped = cases.filter((c) => c.skip);
    assert.ok(skipped.some((c) => c.id === "small-frame" && /smaller/.test(c.skip!)));
    assert.ok(skipped.some((c) => c.id === "xstate-bv-ymm-clear" && /AVX/.test(c.skip!)));
    assert.ok(cases.filter((c) => !c.skip).length >= 20);
    assert.equal(lettersFor(cases.find((c) => c.id === "magic2-bad")!, layout, isa, "classic"), "F----F");
  },
);
