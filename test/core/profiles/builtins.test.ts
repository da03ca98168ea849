import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { FeatureName } from "../../../src/core/cpuid/cpuid.ts";
import { UsageError } from "../../../src/core/errors.ts";
import type { Profile } from "../../../src/core/profile.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { profileFromJson } from "../../../src/core/profiles/json.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

/**
 * Real dumps in ../shared/cpuid-corpus that each built-in describes. Several per profile where the
 * corpus has them (client and server parts of one core generation share the XSAVE layout).
 */
const MATCHES: Record<string, string[]> = {
  "intel-haswell": ["intel-core-i7-4770-cpu-3-40ghz.json", "intel-xeon-cpu-e5-2660-v3-2-60ghz.json"],
  "intel-skylake-client": ["intel-core-i7-6700k-cpu-4-00ghz.json", "intel-core-i5-6400t-cpu-2-20ghz.json"],
  "intel-skylake-server": [
    "intel-xeon-platinum-8180-cpu-2-50ghz.json",
    "intel-xeon-platinum-8160-cpu-2-10ghz.json",
    "intel-xeon-gold-6154-cpu-3-00ghz-00050654.json",
  ],
  "intel-icelake-server": ["intel-xeon-platinum-8351n-cpu-2-40ghz.json"],
  "intel-sapphirerapids": ["intel-xeon-w9-3475x.json", "intel-xeon-w7-2475x.json"],
  "intel-alderlake": ["intel-12th-gen-intel-core-i9-12900k.json", "intel-12th-gen-intel-core-i5-12500.json"],
  "intel-raptorlake": ["intel-13th-gen-intel-core-i9-13900k.json", "intel-core-i9-14900k.json"],
  "amd-zen2": ["amd-ryzen-9-3900x-12-core-processor.json", "amd-epyc-7742-64-core-processor.json"],
  "amd-zen3": ["amd-epyc-7763-64-core-processor.json", "amd-ryzen-7-5800x-8-core-processor.json"],
  "amd-zen4": ["amd-ryzen-9-7950x-16-core-processor.json", "amd-epyc-9654-96-core-processor.json"],
  "amd-zen5": ["amd-ryzen-9-9950x-16-core-processor.json", "amd-epyc-9655-96-core-processor.json"],
  hygon: ["hygon-c86-3185-8-core-processor.json", "hygon-c86-3188-8-core-processor.json"],
  "zhaoxin-kx7000": ["centaur-zhaoxin-kaixian-kx-7000.json"],
};

/** The feature bits that decide which components Linux enables. */
const GATING: FeatureName[] = ["XSAVE", "AVX", "MPX", "AVX512F", "PKU", "AMX_TILE", "APX_F", "XFD", "XSAVES"];

function corpusProfile(file: string): Profile {
  return profileFromJson(JSON.parse(readFileSync(join(CORPUS, file), "utf8")), file);
}

function supportedUser(p: Profile): bigint {
  const sl0 = p.cpuid.get(0xd, 0)!;
  return (BigInt(sl0.edx >>> 0) << 32n) | BigInt(sl0.eax >>> 0);
}

function userBits(p: Profile): number[] {
  const m = supportedUser(p);
  const out: number[] = [];
  for (let i = 2; i < 64; i++) if ((m >> BigInt(i)) & 1n) out.push(i);
  return out;
}

function enabledSummary(l: XsaveLayout): { bit: number; size: number; offset: number }[] {
  return l.components.filter((c) => c.enabled).map((c) => ({ bit: c.bit, size: c.size, offset: c.offset }));
}

function comp(l: XsaveLayout, bit: number) {
  const c = l.components.find((x) => x.bit === bit);
  assert.ok(c, `component ${bit} present`);
  return c;
}

describe("built-in profiles", () => {
  test("the issue's list is there, names and aliases are unique, every one builds", () => {
    const required = [
      "intel-haswell",
      "intel-skylake-client",
      "intel-skylake-server",
      "intel-icelake-server",
      "intel-sapphirerapids",
      "intel-alderlake",
      "intel-raptorlake",
      "amd-zen2",
      "amd-zen3",
      "amd-zen4",
      "amd-zen5",
      "hygon",
      "zhaoxin-kx7000",
    ];
    const names = BUILTIN_PROFILES.map((b) => b.name);
    for (const r of required) assert.ok(names.includes(r), `missing built-in ${r}`);
    const all = BUILTIN_PROFILES.flatMap((b) => [b.name, ...(b.aliases ?? [])]);
    assert.equal(new Set(all).size, all.length, "a name or alias is used twice");
    for (const b of BUILTIN_PROFILES) {
      const p = b.build();
      assert.equal(p.name, b.name);
      assert.equal(p.source.kind, "builtin");
      assert.equal(p.xcr0, undefined, `${b.name}: built-ins leave XCR0 to the layout engine`);
      assert.equal(p.kernel, undefined);
      assert.equal(p.vendor, p.cpuid.vendor());
      assert.ok(p.cpuid.has("XSAVE") && p.cpuid.has("OSXSAVE"), `${b.name}: XSAVE`);
      // Each build is a fresh profile: callers may annotate it.
      assert.notEqual(b.build(), p);
      const l = computeLayout(p);
      assert.deepEqual(l.missingSubleaves, [], `${b.name}: every enumerated component has its sub-leaf`);
    }
  });

  test("look-up by name and alias; unknown names suggest the closest", () => {
    assert.equal(builtinProfile("amd-zen4").name, "amd-zen4");
    assert.equal(builtinProfile("spr").name, "intel-sapphirerapids");
    assert.throws(
      () => builtinProfile("amd-zen6"),
      (e: unknown) => e instanceof UsageError && /amd-zen[2-5]/.test(e.message),
    );
  });

  test("CPUID.0/CPUID.1 encode vendor and signature as the real parts do", () => {
    const sig = (name: string) => builtinProfile(name).cpuid.signature();
    // Display family/model folded the SDM/APM way: Zen 4 is family 19h model 61h, Zen 5 1Ah/44h.
    assert.equal(sig("amd-zen4") >>> 8, 0xa60f);
    assert.equal(sig("amd-zen5") >>> 8, 0xb40f);
    assert.equal(sig("intel-skylake-server") >>> 4, 0x5065);
    assert.equal(builtinProfile("hygon").vendor, "HygonGenuine");
    assert.equal(builtinProfile("zhaoxin-kx7000").vendor, "CentaurHauls");
  });

  describe("known layouts (issue 2, research/kernel.md §4.3)", () => {
    const layout = (name: string, amx = false) => computeLayout(builtinProfile(name), { amx });

    test("Haswell: AVX only, 832", () => {
      const l = layout("intel-haswell");
      assert.equal(l.userSize, 832);
      assert.equal(l.xcr0, 0x7n);
    });
    test("Skylake client: MPX stays in XCR0 on current kernels, 1088", () => {
      const l = layout("intel-skylake-client");
      assert.equal(l.userSize, 1088);
      assert.equal(comp(l, 3).offset, 960);
      assert.equal(comp(l, 4).offset, 1024);
      assert.ok(comp(l, 3).enabled && comp(l, 4).enabled);
    });
    test("Skylake-SP: AVX-512 at 1088/1152/1664, PKRU at 2688, 2696", () => {
      const l = layout("intel-skylake-server");
      assert.deepEqual(
        [5, 6, 7, 9].map((b) => comp(l, b).offset),
        [1088, 1152, 1664, 2688],
      );
      assert.equal(l.userSize, 2696);
      assert.equal(l.frame.extendedSize, 2700);
    });
    test("Ice Lake-SP: 2696 without MPX", () => {
      const l = layout("intel-icelake-server");
      assert.equal(l.userSize, 2696);
      assert.equal(
        l.components.find((c) => c.bit === 3),
        undefined,
      );
    });
    test("Sapphire Rapids: 2816 by default, 11008 with AMX tile data", () => {
      const l = layout("intel-sapphirerapids");
      assert.equal(l.userSize, 2816);
      assert.ok(comp(l, 17).enabled, "XTILECFG is a default feature");
      assert.ok(!comp(l, 18).enabled && comp(l, 18).inXcr0, "XTILEDATA is dynamic");
      assert.ok(comp(l, 18).xfd && comp(l, 18).align64);
      const a = layout("intel-sapphirerapids", true);
      assert.equal(a.userSize, 11008);
      assert.equal(a.frame.extendedSize, 11012);
    });
    test("Alder Lake / Raptor Lake: no AVX-512 but PKRU at 2688, 2696", () => {
      for (const n of ["intel-alderlake", "intel-raptorlake"]) {
        const l = layout(n);
        assert.equal(comp(l, 9).offset, 2688);
        assert.ok(comp(l, 9).enabled);
        assert.equal(
          l.components.some((c) => c.bit >= 5 && c.bit <= 7),
          false,
        );
        assert.equal(l.userSize, 2696);
      }
    });
    test("Zen 2: PKRU listed in CPUID(0xD,0) but not enabled (no PKU), 832", () => {
      const p = builtinProfile("amd-zen2");
      assert.ok((supportedUser(p) >> 9n) & 1n, "listed");
      assert.equal(p.cpuid.has("PKU"), false);
      const l = computeLayout(p);
      assert.equal(comp(l, 9).enabled, false);
      assert.match(comp(l, 9).reason ?? "", /PKU/);
      assert.equal(l.userSize, 832);
      assert.equal(l.maxSize, 896);
    });
    test("Zen 3: PKRU at 2432, 2440", () => {
      const l = layout("amd-zen3");
      assert.equal(comp(l, 9).offset, 2432);
      assert.equal(l.userSize, 2440);
    });
    test("Zen 4 / Zen 5: AVX-512 at 832/896/1408, PKRU at 2432, 2440", () => {
      for (const n of ["amd-zen4", "amd-zen5"]) {
        const l = layout(n);
        assert.deepEqual(
          [5, 6, 7, 9].map((b) => comp(l, b).offset),
          [832, 896, 1408, 2432],
        );
        assert.equal(l.userSize, 2440);
      }
    });
    test("Hygon: 832; Zhaoxin KX-7000: PKRU at 2688, 2696", () => {
      assert.equal(layout("hygon").userSize, 832);
      const z = layout("zhaoxin-kx7000");
      assert.equal(comp(z, 9).offset, 2688);
      assert.equal(z.userSize, 2696);
    });
  });

  test(
    "Alder Lake dumps with AVX-512 unlocked (early firmware, E-cores off) differ from the built-in only in the AVX-512 components",
    needs(CORPUS, "cpuid corpus"),
    () => {
      const adl = computeLayout(builtinProfile("intel-alderlake"));
      for (const file of [
        "intel-12th-gen-intel-core-i5-12400.json",
        "intel-12th-gen-intel-core-i9-12900k-00090672.json",
      ]) {
        if (!existsSync(join(CORPUS, file))) continue;
        const real = corpusProfile(file);
        assert.equal(real.cpuid.has("AVX512F"), true, `${file}: AVX-512 enumerated`);
        const l = computeLayout(real);
        assert.deepEqual(
          enabledSummary(l).filter((c) => c.bit < 5 || c.bit > 7),
          enabledSummary(adl),
          `${file}: all but AVX-512 as the built-in`,
        );
        assert.deepEqual(
          [5, 6, 7].map((b) => comp(l, b).offset),
          [1088, 1152, 1664],
        );
        // Intel's fixed offsets: PKRU stays at 2688, so the frame size does not change.
        assert.equal(l.userSize, adl.userSize);
      }
    },
  );

  describe(
    "each built-in equals its real dumps in ../shared/cpuid-corpus",
    needs(CORPUS, "cpuid corpus"),
    () => {
      for (const b of BUILTIN_PROFILES) {
        const files = MATCHES[b.name] ?? [];
        test(`${b.name} has at least one matching dump named`, () => {
          assert.ok(files.length > 0, `no corpus file mapped to ${b.name}`);
        });
        for (const file of files) {
          const present = existsSync(join(CORPUS, file));
          test(`${b.name} ≡ ${file}`, present ? {} : { skip: `${file} not in the corpus` }, () => {
            const mine = b.build();
            const real = corpusProfile(file);
            assert.equal(mine.vendor, real.vendor, "vendor");
            assert.equal(mine.family, real.family, "family");
            for (const f of GATING) assert.equal(mine.cpuid.has(f), real.cpuid.has(f), `feature ${f}`);

            // Leaf 0xD as enumerated.
            assert.equal(supportedUser(mine), supportedUser(real), "CPUID(0xD,0) EDX:EAX");
            assert.equal(mine.cpuid.get(0xd, 0)!.ecx, real.cpuid.get(0xd, 0)!.ecx, "CPUID(0xD,0).ECX");
            for (const i of userBits(real)) {
              const m = mine.cpuid.get(0xd, i);
              const r = real.cpuid.get(0xd, i)!;
              assert.ok(m, `sub-leaf ${i} present`);
              assert.deepEqual(
                [m.eax, m.ebx, m.ecx],
                [r.eax, r.ebx, r.ecx],
                `CPUID(0xD,${i}) size/offset/flags`,
              );
            }
            // Supervisor components both describe: same size and flags.
            const sl1 = real.cpuid.get(0xd, 1)!;
            for (let i = 2; i < 32; i++) {
              const m = mine.cpuid.get(0xd, i);
              if (!((sl1.ecx >>> i) & 1) || !m || !(m.ecx & 1)) continue;
              const r = real.cpuid.get(0xd, i);
              if (r && r.eax !== 0) assert.deepEqual([m.eax, m.ecx], [r.eax, r.ecx], `supervisor ${i}`);
            }

            // What Linux makes of both.
            for (const amx of [false, true]) {
              const lm = computeLayout(mine, { amx });
              const lr = computeLayout(real, { amx });
              assert.equal(lm.xcr0, lr.xcr0, `xcr0 (amx=${amx})`);
              assert.equal(lm.userFeatures, lr.userFeatures, `userFeatures (amx=${amx})`);
              assert.equal(lm.userSize, lr.userSize, `userSize (amx=${amx})`);
              assert.equal(lm.maxUserSize, lr.maxUserSize, "maxUserSize");
              assert.equal(lm.maxSize, lr.maxSize, "maxSize");
              assert.deepEqual(enabledSummary(lm), enabledSummary(lr), "enabled components");
            }
          });
        }
      }
    },
  );
});
