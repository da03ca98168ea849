import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Cpuid } from "../../../src/core/cpuid/cpuid.ts";
import { parseKernelVersion } from "../../../src/core/kernel.ts";
import type { Profile } from "../../../src/core/profile.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { profileFromJson } from "../../../src/core/profiles/json.ts";
import {
  compactedLayout,
  computeLayout,
  standardSize,
  type XsaveLayout,
} from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

/** A corpus dump read straight from its JSON, independently of the code under test. */
interface Dump {
  file: string;
  doc: unknown;
  regs: Map<string, [number, number, number, number]>;
}

function readDump(file: string): Dump {
  const doc = JSON.parse(readFileSync(join(CORPUS, file), "utf8")) as {
    leaves: { leaf: string; subleaf: string; eax: string; ebx: string; ecx: string; edx: string }[];
  };
  const regs = new Map<string, [number, number, number, number]>();
  for (const l of doc.leaves) {
    const k = `${Number.parseInt(l.leaf, 16)}:${Number.parseInt(l.subleaf, 16)}`;
    if (!regs.has(k))
      regs.set(
        k,
        [l.eax, l.ebx, l.ecx, l.edx].map((x) => Number.parseInt(x, 16)) as [number, number, number, number],
      );
  }
  return { file, doc, regs };
}

const sub = (d: Dump, i: number) => d.regs.get(`13:${i}`);
const present = (r: [number, number, number, number] | undefined) =>
  r !== undefined && (r[0] !== 0 || r[1] !== 0 || r[2] !== 0);
const bitsIn = (lo: number, hi: number) => {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) if ((lo >>> i) & 1) out.push(i);
  for (let i = 0; i < 32; i++) if ((hi >>> i) & 1) out.push(32 + i);
  return out;
};
const mask = (bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);

function profileOf(d: Dump): Profile {
  return profileFromJson(d.doc, d.file);
}

function cleanFiles(): string[] {
  if (!existsSync(join(CORPUS, "index.json"))) return [];
  const index = JSON.parse(readFileSync(join(CORPUS, "index.json"), "utf8")) as {
    file: string;
    status: string;
  }[];
  const files = index.filter((e) => e.status === "clean").map((e) => e.file);
  if (existsSync(join(CORPUS, "local-this-machine.json"))) files.push("local-this-machine.json");
  return files;
}

/** Bytes a compacted XSAVE area over `m` takes, from the library's compacted offsets. */
function compactedSize(l: XsaveLayout, m: bigint): number {
  const offs = compactedLayout(l, m);
  let end = 576;
  for (const c of l.components) {
    const o = offs.get(c.bit);
    if (c.bit >= 2 && o !== undefined && (m >> BigInt(c.bit)) & 1n) end = Math.max(end, o + c.size);
  }
  return end;
}

/** Every subset of `bits`, as masks. */
function subsets(bits: number[]): bigint[] {
  const out: bigint[] = [];
  for (let k = 0; k < 1 << bits.length; k++) out.push(mask(bits.filter((_, j) => (k >> j) & 1)));
  return out;
}

/**
 * XCR0 values an OS may set (SDM vol. 1 §13.3): x87 always; AVX-512's three components together
 * and only with YMM; MPX's two together; AMX's two together.
 */
function validXcr0(m: bigint): boolean {
  const b = (i: number) => ((m >> BigInt(i)) & 1n) === 1n;
  const avx512 = [5, 6, 7].filter(b).length;
  if (avx512 !== 0 && (avx512 !== 3 || !b(2))) return false;
  if (b(3) !== b(4)) return false;
  if (b(17) !== b(18)) return false;
  return b(0);
}

const FILES = cleanFiles();

describe("every clean corpus dump", needs(CORPUS, "cpuid corpus"), () => {
  test("the corpus has enough clean dumps to mean something", () => {
    assert.ok(FILES.length > 200, `only ${FILES.length} clean dumps`);
  });

  test("supported user components: size and standard offset are their sub-leaf's; maxSize is CPUID(0xD,0).ECX", () => {
    for (const f of FILES) {
      const d = readDump(f);
      const sl0 = sub(d, 0)!;
      const l = computeLayout(profileOf(d));
      assert.equal(l.maxSize, sl0[2], `${f}: maxSize`);
      for (const i of bitsIn(sl0[0], sl0[3]).filter((i) => i >= 2)) {
        const r = sub(d, i);
        assert.ok(present(r), `${f}: clean dumps have every user sub-leaf (${i})`);
        const c = l.components.find((x) => x.bit === i);
        assert.ok(c, `${f}: component ${i} in the layout`);
        assert.equal(c.size, r![0], `${f}: size of ${i}`);
        assert.equal(c.offset, r![1], `${f}: offset of ${i}`);
        assert.equal(c.supervisor, false, `${f}: ${i} is a user component`);
        assert.ok(c.supported);
      }
      for (const c of l.components.filter((x) => x.enabled && x.bit >= 2)) {
        assert.equal(c.size, sub(d, c.bit)![0], `${f}: enabled ${c.name} size`);
        assert.equal(c.offset, sub(d, c.bit)![1], `${f}: enabled ${c.name} offset`);
      }
    }
  });

  test("the standard size of all supported user components equals CPUID(0xD,0).ECX (LWP included)", () => {
    let withLwp = 0;
    for (const f of FILES) {
      const d = readDump(f);
      const sl0 = sub(d, 0)!;
      const supported = mask(bitsIn(sl0[0], sl0[3]));
      const l = computeLayout(profileOf(d));
      assert.equal(standardSize(l, supported), sl0[2], f);
      if ((supported >> 62n) & 1n) {
        withLwp++;
        // Linux never enables LWP, but the CPU's maximum counts it.
        assert.equal(l.components.find((c) => c.bit === 62)?.enabled, false, `${f}: LWP`);
      }
    }
    assert.ok(withLwp > 0, "the corpus has LWP parts (Bulldozer family)");
  });

  test("userSize is the standard size of the enabled components; frames add magic2", () => {
    for (const f of FILES) {
      const l = computeLayout(profileOf(readDump(f)));
      const end = Math.max(576, ...l.components.filter((c) => c.enabled).map((c) => c.offset + c.size));
      assert.equal(l.userSize, l.xsave ? end : 512, f);
      assert.ok(l.userSize <= l.maxSize, `${f}: userSize <= maxSize`);
      assert.equal(l.frame.xstateSize, l.userSize);
      assert.equal(l.frame.extendedSize, l.userSize + 4);
    }
  });

  test("missing sub-leaves in clean dumps are only supervisor ones (CPUID(0xD,1) ECX), and they are reported", () => {
    let reported = 0;
    for (const f of FILES) {
      const d = readDump(f);
      const sl1 = sub(d, 1)!;
      const l = computeLayout(profileOf(d));
      for (const i of l.missingSubleaves) {
        assert.ok(bitsIn(sl1[2], sl1[3]).includes(i), `${f}: missing ${i} is supervisor`);
        assert.ok(
          l.warnings.some((w) => w.includes(`${i} (`)),
          `${f}: warning names ${i}`,
        );
        reported++;
      }
    }
    assert.ok(reported > 0);
  });

  test("compacted form: CPUID(0xD,1).EBX is the compacted size of some XCR0|XSS that fits CPUID(0xD,0).EBX", () => {
    // EBX of both sub-leaves reflects what the dumping OS enabled, which the dumps do not record.
    // What can be checked: there is an architecturally valid XCR0 whose standard size is
    // CPUID(0xD,0).EBX and a set of XSS-supported components such that the compacted size (with
    // 64-byte alignment where ECX[1]) is CPUID(0xD,1).EBX. Where a supervisor sub-leaf is missing
    // the compacted size is unknowable; then only the lower bound is checked.
    let exact = 0;
    let bounded = 0;
    for (const f of FILES) {
      const d = readDump(f);
      const [sl0, sl1] = [sub(d, 0)!, sub(d, 1)!];
      if (!((sl1[0] >>> 1) & 1)) continue; // no XSAVEC: EBX of sub-leaf 1 has no meaning
      const l = computeLayout(profileOf(d));
      const userBits = bitsIn(sl0[0], sl0[3]).filter((i) => i >= 2);
      const supBits = bitsIn(sl1[2], sl1[3]).filter((i) => i >= 2);
      const xcr0s = subsets(userBits)
        .map((m) => m | 3n)
        .filter((m) => validXcr0(m) && standardSize(l, m) === sl0[1]);
      assert.ok(xcr0s.length > 0, `${f}: some XCR0 has standard size ${sl0[1]}`);
      if (supBits.some((i) => !present(sub(d, i)))) {
        const least = Math.min(...xcr0s.map((m) => compactedSize(l, m)));
        assert.ok(sl1[1] >= least, `${f}: ${sl1[1]} >= ${least}`);
        bounded++;
        continue;
      }
      const xssSets = subsets(supBits);
      const fits = xcr0s.some((x) => xssSets.some((s) => compactedSize(l, x | s) === sl1[1]));
      assert.ok(fits, `${f}: no XCR0|XSS gives compacted size ${sl1[1]}`);
      exact++;
    }
    assert.ok(exact > 150, `checked exactly: ${exact}`);
    assert.ok(bounded > 0);
  });
});

describe("compacted offsets and alignment", () => {
  test("AMX tiles are 64-byte aligned in the compacted form (hand-computed, SDM vol. 1 §13.4.3)", () => {
    const l = computeLayout(builtinProfile("intel-sapphirerapids"));
    const offs = compactedLayout(l, (1n << 63n) | 0x602e7n);
    // 576 + YMM 256 = 832; opmask 64 → 896; ZMM_Hi256 512 → 1408; Hi16_ZMM 1024 → 2432;
    // PKRU 8 → 2440, which XTILECFG (aligned) rounds up to 2496; XTILEDATA follows at 2560.
    assert.deepEqual(
      [2, 5, 6, 7, 9, 17, 18].map((b) => offs.get(b)),
      [576, 832, 896, 1408, 2432, 2496, 2560],
    );
    assert.equal(compactedSize(l, 0x602e7n), 2560 + 8192);
    // With PASID (8 bytes, unaligned) in between: 2448, still rounded to 2496.
    assert.equal(compactedLayout(l, 0x606e7n).get(17), 2496);
    // With PASID and LBR (808): 2440 + 8 + 808 = 3256, rounded to 3264.
    assert.equal(compactedLayout(l, 0x686e7n).get(17), 3264);
  });

  test(
    "SPR dumps with AMX in XCR0 agree: CPUID(0xD,0).EBX = 11008 means tiles enabled",
    needs(CORPUS, "cpuid corpus"),
    () => {
      const file = "intel-xeon-w9-3475x.json";
      if (!existsSync(join(CORPUS, file))) return;
      const d = readDump(file);
      const l = computeLayout(profileOf(d));
      assert.equal(sub(d, 0)![1], 11008);
      assert.equal(standardSize(l, 0x602e7n), 11008);
      assert.equal(compactedLayout(l, 0x602e7n).get(18), 2560);
    },
  );
});

describe("this machine (local-this-machine.json: Zen 5 guest, XCR0 0xe7, kernel 6.18)", () => {
  const file = "local-this-machine.json";
  const opts = existsSync(join(CORPUS, file)) ? {} : { skip: `${file} not in the corpus` };

  test("userSize 2432 with kernel 6.18, and with the recorded XCR0", opts, () => {
    const p = profileOf(readDump(file));
    assert.equal(p.xcr0, 0xe7n);
    const k = computeLayout(p, { kernel: parseKernelVersion("6.18") });
    assert.equal(k.userSize, 2432);
    assert.equal(k.xcr0, 0xe7n);
    assert.equal(k.frame.extendedSize, 2436);
    const r = computeLayout(p);
    assert.equal(r.userSize, 2432);
    assert.equal(
      r.warnings.filter((w) => /recorded XCR0/.test(w)).length,
      0,
      "rules agree with the measured XCR0",
    );
  });

  test("IA32_XSS as v6.18 sets it (CET_U|CET_S) explains the measured CPUID(0xD,1).EBX", opts, () => {
    const d = readDump(file);
    const l = computeLayout(profileOf(d), { kernel: parseKernelVersion("6.18") });
    assert.equal(l.xss, 0x1800n);
    assert.equal(compactedSize(l, l.xcr0 | l.xss), sub(d, 1)![1]);
    // A v6.6 kernel had only CET_U there.
    assert.equal(computeLayout(profileOf(d), { kernel: parseKernelVersion("6.6") }).xss, 0x800n);
  });
});

describe("missing sub-leaves: a warning, never a guess", () => {
  test("a dump without CPUID(0xD,3/4) (flagged/ in the corpus)", needs(CORPUS, "cpuid corpus"), () => {
    const file = "flagged/intel-pentium-gold-g5400-cpu-3-70ghz.json";
    if (!existsSync(join(CORPUS, file))) return;
    const d = readDump(file);
    const l = computeLayout(profileOf(d));
    assert.deepEqual(
      l.missingSubleaves.filter((i) => i < 8),
      [3, 4],
    );
    assert.ok(
      l.warnings.some(
        (w) => /CPUID\(0xD,i\)/.test(w) && w.includes("3 (BNDREGS)") && w.includes("4 (BNDCSR)"),
      ),
    );
    for (const b of [3, 4]) {
      const c = l.components.find((x) => x.bit === b)!;
      assert.equal(c.enabled, false);
      assert.equal(c.size, 0, "no invented size");
      assert.match(c.reason ?? "", /missing/);
    }
  });

  test("a sub-leaf removed from a complete profile", () => {
    const p = builtinProfile("amd-zen4");
    const cut: Profile = {
      ...p,
      cpuid: new Cpuid(p.cpuid.leaves.filter((l) => !(l.leaf === 0xd && l.subleaf === 9))),
    };
    const l = computeLayout(cut);
    assert.deepEqual(l.missingSubleaves, [9]);
    assert.ok(l.warnings.some((w) => w.includes("9 (PKRU)")));
    assert.equal(l.components.find((c) => c.bit === 9)?.enabled, false);
    assert.equal(l.userSize, 2432, "PKRU left out, not placed anywhere");
  });
});

describe("options", () => {
  test("--xcr0 forces the user features; unsupported bits are dropped with a warning", () => {
    const p = builtinProfile("amd-zen4");
    assert.equal(computeLayout(p, { xcr0: 0x7n }).userSize, 832);
    const noAvx512 = computeLayout(p, { xcr0: 0x207n });
    assert.equal(noAvx512.userSize, 2440, "PKRU stays at 2432 with a hole before it");
    assert.equal(noAvx512.components.find((c) => c.bit === 5)?.enabled, false);
    const extra = computeLayout(p, { xcr0: 0x400e7n });
    assert.equal(extra.xcr0, 0xe7n);
    assert.ok(extra.warnings.some((w) => /18/.test(w) && /not supported/.test(w)));
  });

  test("--amx adds tile data only where the CPU and kernel have it", () => {
    const spr = builtinProfile("intel-sapphirerapids");
    const a = computeLayout(spr, { amx: true });
    assert.equal(a.userSize, 11008);
    assert.equal((a.userFeatures >> 18n) & 1n, 1n);
    const z = computeLayout(builtinProfile("amd-zen5"), { amx: true });
    assert.equal(z.userSize, 2440);
    assert.ok(z.warnings.some((w) => /--amx/.test(w)));
  });

  test("kernel version gates components", () => {
    const k = parseKernelVersion;
    const spr = builtinProfile("intel-sapphirerapids");
    const l515 = computeLayout(spr, { kernel: k("5.15") });
    assert.equal(l515.userSize, 2696, "no AMX before v5.16");
    assert.match(l515.components.find((c) => c.bit === 17)?.reason ?? "", /5\.15/);
    assert.equal(computeLayout(spr, { kernel: k("5.15"), amx: true }).userSize, 2696);
    assert.equal(computeLayout(spr, { kernel: k("5.16"), amx: true }).userSize, 11008);

    const zen3 = builtinProfile("amd-zen3");
    const l44 = computeLayout(zen3, { kernel: k("4.4") });
    assert.equal(l44.userSize, 832, "no PKRU before v4.6");
    assert.equal(l44.components.find((c) => c.bit === 9)?.enabled, false);
    assert.equal(computeLayout(zen3, { kernel: k("4.6") }).userSize, 2440);

    // MPX: the user ABI went in v5.6 but the xstate component stays in XCR0.
    assert.equal(computeLayout(builtinProfile("intel-skylake-client"), { kernel: k("6.18") }).userSize, 1088);
  });

  test(
    "Zen 2 corpus dumps: PKRU enumerated with 64 bytes, never enabled",
    needs(CORPUS, "cpuid corpus"),
    () => {
      const file = "amd-ryzen-9-3900x-12-core-processor.json";
      if (!existsSync(join(CORPUS, file))) return;
      const d = readDump(file);
      assert.deepEqual(sub(d, 9)!.slice(0, 2), [64, 832]);
      const l = computeLayout(profileOf(d), { kernel: parseKernelVersion("6.18") });
      assert.equal(l.components.find((c) => c.bit === 9)?.enabled, false);
      assert.equal(l.userSize, 832);
    },
  );
});
