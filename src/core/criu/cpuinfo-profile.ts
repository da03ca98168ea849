/**
 * A CRIU `cpuinfo.img` as a PROFILE. The image holds vendor, family/model/stepping, compel's
 * `x86_capability[]` words, `xfeatures_mask`, `xsave_size` and `xsave_size_max`; the CPUID leaves
 * a Profile carries are synthesised from them:
 *
 * - compel's capability words are raw CPUID registers (compel/arch/x86 cpu.h `enum cpuid_leafs`):
 *   word 0 = 1.EDX, 1 = 0x80000001.EDX, 4 = 1.ECX, 6 = 0x80000001.ECX, 9 = 7.0.EBX,
 *   10 = 0xD.1.EAX, 11 = 7.0.ECX, 13 = 0x80000008.EBX, 14 = 6.EAX, 15 = 0x8000000A.EDX,
 *   17 = 0x80000007.EBX, 18 = 7.0.EDX (19 words from capability_ver 2; 12 before);
 *   words 2, 3, 5, 7, 8, 12, 16 are Linux-defined or other vendors' and are not CPUID leaves here;
 * - `xfeatures_mask` is CPUID(0xD,0) EDX:EAX filtered by compel. compel's
 *   `XFEATURE_MASK_SUPERVISOR` uses the enum index of HDC (10) as a mask, so bits 1 (SSE) and 3
 *   (BNDREGS) are always cleared: bit 1 is put back (SSE state is architectural with XSAVE), and
 *   bit 3 where BNDCSR (bit 4) is present;
 * - CPUID(0xD,i) sub-leaves are not stored: they are inferred from the vendor's standard-format
 *   offsets, checked against `xsave_size`, and the profile's notes say so.
 */

import { type CpuidLeaf, LeafSet, signatureOf } from "../cpuid/cpuid.ts";
import { InvalidDataError } from "../errors.ts";
import { bitsOf } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { VENDOR_OFFSETS } from "../xsave/components.ts";
import { MAX_XSAVE_SIZE } from "../xsave/limits.ts";
import { decodeCpuinfo } from "./decode.ts";
import type { cpuinfo_x86_entry } from "./gen/cpuinfo_pb.ts";

/** Which CPUID register each compel capability word holds. */
const WORDS: Readonly<Record<number, { leaf: number; subleaf: number; reg: "eax" | "ebx" | "ecx" | "edx" }>> =
  {
    0: { leaf: 1, subleaf: 0, reg: "edx" },
    1: { leaf: 0x80000001, subleaf: 0, reg: "edx" },
    4: { leaf: 1, subleaf: 0, reg: "ecx" },
    6: { leaf: 0x80000001, subleaf: 0, reg: "ecx" },
    9: { leaf: 7, subleaf: 0, reg: "ebx" },
    10: { leaf: 0xd, subleaf: 1, reg: "eax" },
    11: { leaf: 7, subleaf: 0, reg: "ecx" },
    13: { leaf: 0x80000008, subleaf: 0, reg: "ebx" },
    14: { leaf: 6, subleaf: 0, reg: "eax" },
    15: { leaf: 0x8000000a, subleaf: 0, reg: "edx" },
    17: { leaf: 0x80000007, subleaf: 0, reg: "ebx" },
    18: { leaf: 7, subleaf: 0, reg: "edx" },
  };

const VENDOR_STRINGS: Readonly<Record<number, string>> = { 1: "GenuineIntel", 2: "AuthenticAMD" };

function vendorRegs(v: string): { ebx: number; edx: number; ecx: number } {
  const c = (i: number) =>
    v.charCodeAt(i) | (v.charCodeAt(i + 1) << 8) | (v.charCodeAt(i + 2) << 16) | (v.charCodeAt(i + 3) << 24);
  return { ebx: c(0) >>> 0, edx: c(4) >>> 0, ecx: c(8) >>> 0 };
}

/** Builds a Profile from one cpuinfo_x86_entry. */
export function profileFromCpuinfoEntry(e: cpuinfo_x86_entry, name: string): Profile {
  const notes: string[] = [];
  const vendor = VENDOR_STRINGS[e.vendorId];
  if (!vendor) notes.push("cpuinfo.img names no known vendor (UNKNOWN): leaf 0 has no vendor string");
  if (e.cpuFamily > 0xff + 0xf || e.model > 0xff || e.stepping > 0xf) {
    throw new InvalidDataError(
      `family/model/stepping ${e.cpuFamily}/${e.model}/${e.stepping} cannot be expressed in CPUID.1.EAX`,
      { input: name, path: "entries/0/x86_entry/0" },
    );
  }
  const regs = new LeafSet();
  const leaf = (l: number, s = 0): CpuidLeaf => regs.leaf(l, s);
  const l0 = leaf(0);
  l0.eax = 0xd;
  if (vendor) Object.assign(l0, vendorRegs(vendor));
  leaf(1).eax = signatureOf(e.cpuFamily, e.model, e.stepping) >>> 0;
  const words = e.capability;
  const expected = e.capabilityVer >= 2 ? 19 : 12;
  if (words.length < expected)
    notes.push(
      `cpuinfo.img has ${words.length} capability words; capability_ver ${e.capabilityVer} promises ${expected}`,
    );
  let maxExt = 0x80000000;
  for (const [w, where] of Object.entries(WORDS)) {
    const v = words[Number(w)];
    if (v === undefined) continue;
    leaf(where.leaf, where.subleaf)[where.reg] = v >>> 0;
    if (where.leaf > maxExt) maxExt = where.leaf;
  }
  leaf(0x80000000).eax = maxExt >>> 0;
  if (e.modelId) {
    regs.setBrand(e.modelId);
    leaf(0x80000000).eax = Math.max(maxExt, 0x80000004) >>> 0;
  }

  // XSAVE: leaf 0xD.
  let xcr0: bigint | undefined;
  const rec = e as unknown as Record<string, unknown>;
  if (Object.hasOwn(rec, "xfeaturesMask") && e.xfeaturesMask !== 0n) {
    let mask = e.xfeaturesMask;
    const fixes: string[] = [];
    if (!(mask & 2n) && mask & 1n) {
      mask |= 2n;
      fixes.push("bit 1 (SSE)");
    }
    if (!(mask & 8n) && mask & 16n) {
      mask |= 8n;
      fixes.push("bit 3 (BNDREGS)");
    }
    if (fixes.length) {
      notes.push(
        `xfeatures_mask 0x${e.xfeaturesMask.toString(16)} lacks ${fixes.join(" and ")}: compel's XFEATURE_MASK_SUPERVISOR clears them on every CPU; restored to 0x${mask.toString(16)}`,
      );
    }
    for (const [field, v] of [
      ["xsave_size", e.xsaveSize],
      ["xsave_size_max", e.xsaveSizeMax],
    ] as const) {
      if (v > MAX_XSAVE_SIZE)
        throw new InvalidDataError(
          `${field} is ${v} bytes; no CPU has an XSAVE area over ${MAX_XSAVE_SIZE}`,
          {
            input: name,
            path: `entries/0/x86_entry/0/${field}`,
          },
        );
    }
    xcr0 = mask;
    notes.push("XCR0 is CRIU's xfeatures_mask (CPUID(0xD,0) filtered by compel), not a measured XGETBV");
    const d0 = leaf(0xd, 0);
    d0.eax = Number(mask & 0xffffffffn) >>> 0;
    d0.edx = Number((mask >> 32n) & 0xffffffffn) >>> 0;
    d0.ebx = e.xsaveSize >>> 0;
    d0.ecx = (e.xsaveSizeMax || e.xsaveSize) >>> 0;
    const table =
      e.vendorId === 1
        ? VENDOR_OFFSETS.GenuineIntel
        : e.vendorId === 2
          ? VENDOR_OFFSETS.AuthenticAMD
          : undefined;
    if (!table) {
      notes.push(
        "CPUID(0xD,i) offsets are not in cpuinfo.img and the vendor is unknown: component offsets are missing",
      );
    } else {
      let end = 576;
      const unknown: number[] = [];
      for (const i of bitsOf(mask)) {
        if (i < 2) continue;
        const t = table[i];
        if (!t) {
          unknown.push(i);
          continue;
        }
        const l = leaf(0xd, i);
        l.eax = t[1];
        l.ebx = t[0];
        l.ecx = i === 18 ? 2 : 0;
        end = Math.max(end, t[0] + t[1]);
      }
      const vname = e.vendorId === 1 ? "Intel" : "AMD";
      notes.push(
        `CPUID(0xD,i) sub-leaves are not stored in cpuinfo.img: component offsets are ${vname}'s documented standard-format offsets`,
      );
      if (unknown.length) notes.push(`no documented ${vname} offset for component(s) ${unknown.join(", ")}`);
      if (e.xsaveSize && end !== e.xsaveSize && !unknown.length) {
        notes.push(
          `the inferred layout ends at ${end} bytes but cpuinfo.img says xsave_size ${e.xsaveSize}: the offsets may not be this CPU's`,
        );
      }
    }
  } else {
    notes.push("cpuinfo.img has no xfeatures_mask: XSAVE components unknown");
  }
  notes.push(
    "CPUID leaves synthesised from CRIU's capability words; leaves CRIU does not store read as zero",
  );

  const cpuid = regs.build();
  const p: Profile = {
    name,
    source: { kind: "criu-cpuinfo", path: name },
    vendor: vendor ?? "unknown",
    family: e.cpuFamily,
    model: e.model,
    stepping: e.stepping,
    cpuid,
    notes,
  };
  if (e.modelId) p.brand = e.modelId;
  if (xcr0 !== undefined) p.xcr0 = xcr0;
  return p;
}

/** Profile from the bytes of a cpuinfo.img (its first x86 entry). */
export function profileFromCpuinfoImage(bytes: Uint8Array, name: string): Profile {
  const ci = decodeCpuinfo(bytes, name);
  const x = ci.x86Entry[0];
  if (!x)
    throw new InvalidDataError("cpuinfo.img holds no x86 CPU entry", {
      input: name,
      path: "entries/0/x86_entry",
    });
  const p = profileFromCpuinfoEntry(x, name);
  if (ci.x86Entry.length > 1) p.notes.push(`cpuinfo.img lists ${ci.x86Entry.length} CPUs; the first is used`);
  return p;
}
