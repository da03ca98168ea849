/**
 * Built-in CPU profiles, written from documented facts (only what layouts need): vendor, CPUID.1
 * signature, the feature bits that gate XSAVE components, and leaf 0xD. Each profile is a compact
 * description; `build()` turns it into CPUID leaves.
 *
 * Sources: Intel SDM vol. 1 ch. 13 ("Managing state using the XSAVE feature set") and vol. 2
 * CPUID leaf 0DH for the component numbers, sizes and the standard offsets Intel keeps fixed
 * across models; AMD APM vol. 3 (CPUID Fn0000_000D) for AMD/Hygon, where offsets are packed
 * differently; the kernel's xstate table (arch/x86/kernel/fpu/xstate.c, xsave_cpuid_features[],
 * check_xstate_against_struct()) for which CPUID feature gates which component.
 *
 * Built-ins model the CPU only: no XCR0 and no kernel, so the layout engine derives what Linux
 * enables. CPUID(0xD,0).EBX and CPUID(0xD,1).EBX, which reflect whatever the OS enabled, are given
 * the values for the XCR0 Linux would set (with IA32_XSS taken as 0).
 */
import { Cpuid, type CpuidLeaf, FEATURES, type FeatureName } from "../cpuid/cpuid.ts";
import { UsageError } from "../errors.ts";
import type { Profile } from "../profile.ts";

export interface BuiltinProfile {
  /** Name as typed on the command line, e.g. `intel-icelake-server`. */
  name: string;
  aliases?: string[];
  /** One line for `sigframe profiles`. */
  title: string;
  build(): Profile;
}

/** One XSAVE state component as CPUID(0xD,i) describes it. */
interface ComponentSpec {
  bit: number;
  /** CPUID(0xD,i).EAX */
  size: number;
  /** CPUID(0xD,i).EBX: standard-format offset; 0 for supervisor components. */
  offset: number;
  /** CPUID(0xD,i).ECX bits: supervisor (bit 0), 64-byte aligned when compacted (bit 1), XFD (bit 2). */
  supervisor?: boolean;
  align64?: boolean;
  xfd?: boolean;
}

interface CpuSpec {
  vendor: "GenuineIntel" | "AuthenticAMD" | "HygonGenuine" | "CentaurHauls";
  /** Display family and model (extended fields folded in) and stepping. */
  family: number;
  model: number;
  stepping: number;
  /** CPUID.0.EAX and CPUID.80000000H.EAX. */
  maxLeaf: number;
  maxExtLeaf: number;
  /** Feature bits that matter for XSAVE layouts (leaf 1, 7.0, 7.1, 0xD.1 EAX, 0x80000001). */
  features: FeatureName[];
  /** Components 2..62 enumerated in CPUID(0xD,0) EDX:EAX (user) or CPUID(0xD,1) EDX:ECX (supervisor). */
  components: ComponentSpec[];
}

// Component descriptions shared by many CPUs. Intel's standard offsets are the same on every
// model that has the component (SDM vol. 1 §13.4.3 and the per-component sections of ch. 13).
const YMM: ComponentSpec = { bit: 2, size: 256, offset: 576 };
const BNDREGS: ComponentSpec = { bit: 3, size: 64, offset: 960 };
const BNDCSR: ComponentSpec = { bit: 4, size: 64, offset: 1024 };
const INTEL_AVX512: ComponentSpec[] = [
  { bit: 5, size: 64, offset: 1088 },
  { bit: 6, size: 512, offset: 1152 },
  { bit: 7, size: 1024, offset: 1664 },
];
const INTEL_PKRU: ComponentSpec = { bit: 9, size: 8, offset: 2688 };
// AMX (SDM ch. 13 / ch. 3.3 of the ISA extensions reference): TILECFG 64 B, TILEDATA 8 KiB, both
// 64-byte aligned in the compacted form; TILEDATA can be armed with XFD.
const AMX: ComponentSpec[] = [
  { bit: 17, size: 64, offset: 2752, align64: true },
  { bit: 18, size: 8192, offset: 2816, align64: true, xfd: true },
];
// AMD packs AVX-512 and PKRU right after YMM (APM vol. 3, CPUID Fn0000_000D_x05..x09 on Zen 4/5;
// PKRU alone at 2432 on Zen 3, after a hole where the AVX-512 state would sit).
const AMD_AVX512: ComponentSpec[] = [
  { bit: 5, size: 64, offset: 832 },
  { bit: 6, size: 512, offset: 896 },
  { bit: 7, size: 1024, offset: 1408 },
];
const AMD_PKRU: ComponentSpec = { bit: 9, size: 8, offset: 2432 };
// Supervisor components (sizes from the SDM; LBR for 32 records; the kernel's struct sizes for
// PASID 8, CET_U 16, CET_S 24).
const PT: ComponentSpec = { bit: 8, size: 128, offset: 0, supervisor: true };
const PASID: ComponentSpec = { bit: 10, size: 8, offset: 0, supervisor: true };
const CET_U: ComponentSpec = { bit: 11, size: 16, offset: 0, supervisor: true };
const CET_S: ComponentSpec = { bit: 12, size: 24, offset: 0, supervisor: true };
const UINTR: ComponentSpec = { bit: 14, size: 48, offset: 0, supervisor: true };
const LBR: ComponentSpec = { bit: 15, size: 808, offset: 0, supervisor: true };
const HWP: ComponentSpec = { bit: 16, size: 8, offset: 0, supervisor: true };

/** AMD and Hygon: misaligned SSE mode (MXCSR.MM, bit 17 of MXCSR_MASK), on every Zen part. */
const AMD_BASE: FeatureName[] = ["MISALIGNSSE"];

/** Baseline of every x86-64 CPU with AVX: x87, FXSR, SSE/SSE2, XSAVE enabled by the OS (OSXSAVE). */
const BASE: FeatureName[] = ["FPU", "FXSR", "SSE", "SSE2", "XSAVE", "OSXSAVE", "AVX"];
/** CPUID(0xD,1).EAX on everything since Skylake / Zen 1: XSAVEOPT, XSAVEC, XGETBV1, XSAVES. */
const XSAVE_ALL: FeatureName[] = ["XSAVEOPT", "XSAVEC", "XGETBV1", "XSAVES"];

const CPUS: Record<string, { title: string; aliases?: string[]; spec: CpuSpec }> = {
  "intel-haswell": {
    title: "Intel Haswell (4th gen Core, Xeon E5 v3): AVX2, XSAVEOPT only",
    aliases: ["haswell"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x3c,
      stepping: 3,
      maxLeaf: 0xd,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "XSAVEOPT"],
      components: [YMM],
    },
  },
  "intel-skylake-client": {
    title: "Intel Skylake client (6th gen Core): MPX, no AVX-512, no PKU",
    aliases: ["skylake"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x5e,
      stepping: 3,
      maxLeaf: 0x16,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "MPX", ...XSAVE_ALL],
      components: [YMM, BNDREGS, BNDCSR, PT],
    },
  },
  "intel-skylake-server": {
    title: "Intel Skylake-SP / Cascade Lake (Xeon Scalable 1st/2nd gen): AVX-512, MPX, PKRU",
    aliases: ["skylake-sp", "skx", "intel-cascadelake"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x55,
      stepping: 4,
      maxLeaf: 0x16,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "MPX", "AVX512F", "PKU", "OSPKE", ...XSAVE_ALL],
      components: [YMM, BNDREGS, BNDCSR, ...INTEL_AVX512, PT, INTEL_PKRU],
    },
  },
  "intel-icelake-server": {
    title: "Intel Ice Lake-SP (Xeon Scalable 3rd gen): AVX-512, PKRU, no MPX",
    aliases: ["icelake-sp", "icx"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x6a,
      stepping: 6,
      maxLeaf: 0x1b,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "AVX512F", "PKU", "OSPKE", ...XSAVE_ALL],
      components: [YMM, ...INTEL_AVX512, PT, INTEL_PKRU],
    },
  },
  "intel-sapphirerapids": {
    title: "Intel Sapphire Rapids (Xeon Scalable 4th gen): AVX-512, PKRU, AMX tiles with XFD",
    aliases: ["sapphirerapids", "spr"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x8f,
      stepping: 8,
      maxLeaf: 0x20,
      maxExtLeaf: 0x80000008,
      features: [
        ...BASE,
        "AVX512F",
        "PKU",
        "OSPKE",
        "CET_SS",
        "ENQCMD",
        "AMX_BF16",
        "AMX_TILE",
        "AMX_INT8",
        ...XSAVE_ALL,
        "XFD",
      ],
      components: [YMM, ...INTEL_AVX512, PT, INTEL_PKRU, PASID, CET_U, CET_S, UINTR, LBR, ...AMX],
    },
  },
  "intel-alderlake": {
    title: "Intel Alder Lake (12th gen Core): AVX2 only (AVX-512 fused off), PKRU at 2688",
    aliases: ["alderlake", "adl"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0x97,
      stepping: 2,
      maxLeaf: 0x20,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "PKU", "OSPKE", "CET_SS", ...XSAVE_ALL],
      components: [YMM, PT, INTEL_PKRU, CET_U, CET_S, LBR, HWP],
    },
  },
  "intel-raptorlake": {
    title: "Intel Raptor Lake (13th/14th gen Core): AVX2 only, PKRU at 2688",
    aliases: ["raptorlake", "rpl"],
    spec: {
      vendor: "GenuineIntel",
      family: 6,
      model: 0xb7,
      stepping: 1,
      maxLeaf: 0x20,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "PKU", "OSPKE", "CET_SS", ...XSAVE_ALL],
      components: [YMM, PT, INTEL_PKRU, CET_U, CET_S, LBR, HWP],
    },
  },
  "amd-zen2": {
    title: "AMD Zen 2 (Ryzen 3000, EPYC 7002): lists PKRU in CPUID(0xD,0) but has no PKU",
    aliases: ["zen2", "rome", "matisse"],
    spec: {
      vendor: "AuthenticAMD",
      family: 0x17,
      model: 0x71,
      stepping: 0,
      maxLeaf: 0x10,
      maxExtLeaf: 0x80000020,
      features: [...BASE, ...AMD_BASE, ...XSAVE_ALL],
      // Zen 2 enumerates component 9 with 64 bytes at 832 while CPUID.7:ECX.PKU is 0, so Linux
      // leaves PKRU out of XCR0 (xsave_cpuid_features[]).
      components: [YMM, { bit: 9, size: 64, offset: 832 }],
    },
  },
  "amd-zen3": {
    title: "AMD Zen 3 (Ryzen 5000, EPYC 7003): AVX2, PKRU at 2432, CET shadow stacks",
    aliases: ["zen3", "milan", "vermeer"],
    spec: {
      vendor: "AuthenticAMD",
      family: 0x19,
      model: 0x01,
      stepping: 1,
      maxLeaf: 0x10,
      maxExtLeaf: 0x80000023,
      features: [...BASE, ...AMD_BASE, "PKU", "OSPKE", "CET_SS", ...XSAVE_ALL],
      components: [YMM, AMD_PKRU, CET_U, CET_S],
    },
  },
  "amd-zen4": {
    title: "AMD Zen 4 (Ryzen 7000, EPYC 9004): AVX-512 at 832/896/1408, PKRU at 2432",
    aliases: ["zen4", "genoa", "raphael"],
    spec: {
      vendor: "AuthenticAMD",
      family: 0x19,
      model: 0x61,
      stepping: 2,
      maxLeaf: 0x10,
      maxExtLeaf: 0x80000028,
      features: [...BASE, ...AMD_BASE, "AVX512F", "PKU", "OSPKE", "CET_SS", ...XSAVE_ALL],
      components: [YMM, ...AMD_AVX512, AMD_PKRU, CET_U, CET_S],
    },
  },
  "amd-zen5": {
    title: "AMD Zen 5 (Ryzen 9000, EPYC 9005): AVX-512 at 832/896/1408, PKRU at 2432",
    aliases: ["zen5", "turin", "granite-ridge"],
    spec: {
      vendor: "AuthenticAMD",
      family: 0x1a,
      model: 0x44,
      stepping: 0,
      maxLeaf: 0x10,
      maxExtLeaf: 0x80000028,
      features: [...BASE, ...AMD_BASE, "AVX512F", "PKU", "OSPKE", "CET_SS", ...XSAVE_ALL],
      components: [YMM, ...AMD_AVX512, AMD_PKRU, CET_U, CET_S],
    },
  },
  hygon: {
    title: "Hygon Dhyana (C86 3000/7000, family 18h): Zen 1 derived, AVX2 only",
    aliases: ["hygon-dhyana", "dhyana"],
    spec: {
      vendor: "HygonGenuine",
      family: 0x18,
      model: 0x00,
      stepping: 2,
      maxLeaf: 0xd,
      maxExtLeaf: 0x8000001f,
      features: [...BASE, ...AMD_BASE, ...XSAVE_ALL],
      components: [YMM],
    },
  },
  "zhaoxin-kx7000": {
    title: "Zhaoxin KaiXian KX-7000 (family 7): AVX2, PKRU at Intel's 2688",
    aliases: ["kx7000", "zhaoxin"],
    spec: {
      vendor: "CentaurHauls",
      family: 7,
      model: 0x6b,
      stepping: 1,
      maxLeaf: 0x1f,
      maxExtLeaf: 0x80000008,
      features: [...BASE, "PKU", "OSPKE", ...XSAVE_ALL],
      components: [YMM, INTEL_PKRU, HWP],
    },
  },
};

/** CPUID.1.EAX from display family/model/stepping (SDM vol. 2 CPUID, AMD APM vol. 3 Fn0000_0001). */
function signature(family: number, model: number, stepping: number): number {
  const baseFamily = Math.min(family, 0xf);
  const extFamily = family >= 0xf ? family - 0xf : 0;
  return (
    ((extFamily << 20) | ((model >> 4) << 16) | (baseFamily << 8) | ((model & 0xf) << 4) | stepping) >>> 0
  );
}

/** The vendor string as CPUID.0 returns it in EBX, EDX, ECX. */
function vendorRegs(vendor: string): { ebx: number; edx: number; ecx: number } {
  const word = (i: number) =>
    (vendor.charCodeAt(i) |
      (vendor.charCodeAt(i + 1) << 8) |
      (vendor.charCodeAt(i + 2) << 16) |
      (vendor.charCodeAt(i + 3) << 24)) >>>
    0;
  return { ebx: word(0), edx: word(4), ecx: word(8) };
}

/** Components Linux puts in XCR0 when the gating feature is present (xsave_cpuid_features[]). */
const XCR0_GATE: Record<number, FeatureName> = {
  2: "AVX",
  3: "MPX",
  4: "MPX",
  5: "AVX512F",
  6: "AVX512F",
  7: "AVX512F",
  9: "PKU",
  17: "AMX_TILE",
  18: "AMX_TILE",
  19: "APX_F",
};

function buildCpuid(spec: CpuSpec): Cpuid {
  const regs = new Map<string, CpuidLeaf>();
  const leaf = (l: number, s = 0): CpuidLeaf => {
    const k = `${l}:${s}`;
    let r = regs.get(k);
    if (!r) {
      r = { leaf: l >>> 0, subleaf: s, eax: 0, ebx: 0, ecx: 0, edx: 0 };
      regs.set(k, r);
    }
    return r;
  };
  const v = vendorRegs(spec.vendor);
  Object.assign(leaf(0), { eax: spec.maxLeaf, ...v });
  leaf(1).eax = signature(spec.family, spec.model, spec.stepping);
  leaf(7);
  Object.assign(leaf(0x80000000), {
    eax: spec.maxExtLeaf >>> 0,
    ...(spec.vendor === "GenuineIntel" ? {} : v),
  });
  leaf(0x80000001).eax = spec.vendor === "GenuineIntel" ? 0 : leaf(1).eax;
  for (const name of spec.features) {
    const f = FEATURES[name];
    const r = leaf(f.leaf, f.subleaf);
    r[f.reg] = (r[f.reg] | (1 << f.bit)) >>> 0;
  }
  // CPUID.7.0.EAX: highest sub-leaf of leaf 7.
  if (regs.has("7:1")) leaf(7).eax = Math.max(leaf(7).eax, 1);

  const has = (n: FeatureName) => spec.features.includes(n);
  let supportedUser = 0x3n;
  let supportedSup = 0n;
  let xcr0 = 0x3n;
  let maxEnd = 576;
  let xcr0End = 576;
  const sorted = [...spec.components].sort((a, b) => a.bit - b.bit);
  for (const c of sorted) {
    const ecx = (c.supervisor ? 1 : 0) | (c.align64 ? 2 : 0) | (c.xfd ? 4 : 0);
    Object.assign(leaf(0xd, c.bit), { eax: c.size, ebx: c.offset, ecx, edx: 0 });
    const b = 1n << BigInt(c.bit);
    if (c.supervisor) {
      supportedSup |= b;
      continue;
    }
    supportedUser |= b;
    maxEnd = Math.max(maxEnd, c.offset + c.size);
    const gate = XCR0_GATE[c.bit];
    if (gate && has(gate)) {
      xcr0 |= b;
      xcr0End = Math.max(xcr0End, c.offset + c.size);
    }
  }
  // Compacted size of XCR0 (IA32_XSS taken as 0), SDM vol. 1 §13.4.3.
  let compacted = 576;
  for (const c of sorted) {
    if (c.supervisor || !(xcr0 & (1n << BigInt(c.bit)))) continue;
    if (c.align64) compacted = (compacted + 63) & ~63;
    compacted += c.size;
  }
  Object.assign(leaf(0xd, 0), {
    eax: Number(supportedUser & 0xffffffffn),
    ebx: xcr0End,
    ecx: maxEnd,
    edx: Number(supportedUser >> 32n),
  });
  const sl1 = leaf(0xd, 1);
  sl1.ebx = has("XSAVES") || has("XSAVEC") ? compacted : 0;
  sl1.ecx = Number(supportedSup & 0xffffffffn);
  sl1.edx = Number(supportedSup >> 32n);

  const order = (r: CpuidLeaf) => (r.leaf >>> 0) * 0x100 + r.subleaf;
  return new Cpuid([...regs.values()].sort((a, b) => order(a) - order(b)));
}

export const BUILTIN_PROFILES: BuiltinProfile[] = Object.entries(CPUS).map(([name, d]) => {
  const b: BuiltinProfile = {
    name,
    title: d.title,
    build(): Profile {
      const cpuid = buildCpuid(d.spec);
      const fms = cpuid.fms();
      return {
        name,
        source: { kind: "builtin" },
        vendor: cpuid.vendor(),
        family: fms.family,
        model: fms.model,
        stepping: fms.stepping,
        cpuid,
        notes: [`built-in profile: ${d.title}`],
      };
    },
  };
  if (d.aliases) b.aliases = d.aliases;
  return b;
});

/** Looks up a built-in profile; unknown names fail with the closest names. */
export function builtinProfile(name: string): Profile {
  const b = BUILTIN_PROFILES.find((p) => p.name === name || p.aliases?.includes(name));
  if (b) return b.build();
  const close = closestNames(
    name,
    BUILTIN_PROFILES.map((p) => p.name),
  );
  throw new UsageError(
    `no such profile file or built-in profile${close.length ? `; did you mean ${close.join(", ")}?` : ""} (see 'sigframe profiles')`,
    { input: name },
  );
}

export function isBuiltinName(name: string): boolean {
  return BUILTIN_PROFILES.some((p) => p.name === name || p.aliases?.includes(name));
}

export function closestNames(name: string, names: string[], max = 3): string[] {
  const scored = names.map((n) => ({ n, d: distance(name.toLowerCase(), n.toLowerCase()) }));
  scored.sort((a, b) => a.d - b.d || a.n.localeCompare(b.n));
  const limit = Math.max(3, Math.floor(name.length / 2));
  const sub = names.filter((n) => n.includes(name.toLowerCase()) || name.toLowerCase().includes(n));
  const out = [...new Set([...sub, ...scored.filter((s) => s.d <= limit).map((s) => s.n)])];
  return out.slice(0, max);
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
