/**
 * An ELF core file as a PROFILE: what the XSAVE notes say about the CPU that wrote them.
 *
 * A core records no CPUID. What it has:
 * - NT_X86_XSTATE: the XSAVE area; bytes 464..471 are XCR0; its size is the kernel's
 *   fpu_user_cfg.max_size (standard-format size of every XCR0 user component), or, for gdb's
 *   `gcore`, whatever size gdb assumed;
 * - NT_X86_XSAVE_LAYOUT (Linux 6.11+): the standard-format {type, size, offset} of every extended
 *   component, i.e. CPUID(0xD, i).EAX/EBX;
 * - NT_AUXV: AT_MINSIGSTKSZ, which the kernel derives from max_size (arch/x86/kernel/signal.c
 *   init_sigframe_size(): sizeof(struct sigframe_ia32 or rt_sigframe) + 15 + max_size + 4
 *   [+ 112 with ia32 emulation] + 63, rounded up to 16).
 *
 * From these the CPUID leaves that the layout engine needs are reconstructed: 0xD.0 EAX/EDX from
 * XCR0, EBX/ECX from the sizes, 0xD.i from the layout, and the leaf 1/7 feature bits that gate the
 * components present. Without a layout note, offsets come from the two published standard-format
 * layouts (Intel and AMD differ from AVX-512 on) chosen by the note size; the vendor is inferred and
 * the profile's notes say how.
 *
 * gdb 13 and older have no CPUID-based XSAVE layout: `gcore` reads the kernel's XSAVE buffer with
 * Intel's offsets and writes a note of Intel's size with only Intel's component ranges copied
 * (bytes elsewhere are zero), and no layout note. On an AMD CPU with AVX-512 the note therefore
 * keeps every byte that lies inside an Intel component range at its (AMD) offset and loses the
 * rest: k0-k7 (AMD 832..895 falls in Intel's MPX gap) and bits 256-511 of zmm0-5. This module
 * detects that from the layout note or from AT_MINSIGSTKSZ and says so in the profile's notes.
 */
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { InvalidDataError } from "../errors.ts";
import { bitsOf, hasBit, hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import {
  componentInfo,
  MIN_XSTATE_SIZE,
  VENDOR_OFFSETS,
  type Vendor,
  XFEATURE,
} from "../xsave/components.ts";
import { auxvValue, type ElfCore, noteXcr0 } from "./core.ts";
import { AT } from "./format.ts";

export type { Vendor };

export interface ComponentPlacement {
  bit: number;
  size: number;
  /** Standard-format offset. */
  offset: number;
}

/** The vendor table's placement of XCR0's extended components; undefined if one is not in it. */
export function vendorPlacement(vendor: Vendor, xcr0: bigint): ComponentPlacement[] | undefined {
  const out: ComponentPlacement[] = [];
  for (const b of bitsOf(xcr0)) {
    if (b < 2) continue;
    const e = VENDOR_OFFSETS[vendor][b];
    if (!e) return undefined;
    out.push({ bit: b, offset: e[0], size: e[1] });
  }
  return out;
}

/** Standard-format size of a placement (end of the component that ends last). */
export function placementSize(p: readonly ComponentPlacement[]): number {
  return p.reduce((m, c) => Math.max(m, c.offset + c.size), MIN_XSTATE_SIZE);
}

/** The vendor whose table has exactly these offsets, if exactly one does. */
function vendorOfPlacement(p: readonly ComponentPlacement[]): Vendor | "either" | undefined {
  const fits = (v: Vendor) =>
    p.every((c) => {
      const e = VENDOR_OFFSETS[v][c.bit];
      return e !== undefined && e[0] === c.offset && e[1] === c.size;
    });
  const i = fits("GenuineIntel");
  const a = fits("AuthenticAMD");
  if (i && a) return "either";
  return i ? "GenuineIntel" : a ? "AuthenticAMD" : undefined;
}

/**
 * Whether AT_MINSIGSTKSZ is what a kernel with this max_size computes. sizeof(rt_sigframe) is 440
 * (x86-64 only) and sizeof(sigframe_ia32) 732 (ia32 emulation, the usual distribution kernel,
 * which also adds the 112-byte fsave header); with 15 + 4 + 63 bytes of padding and magic2 and the
 * round-up to 16 the overhead is 522..537 or 926..941. v6.18 measured 944, so the ranges are
 * widened by a margin that still keeps them far apart from a 256-byte layout difference.
 */
export function minSigStkSzFits(atMinSigStkSz: number, maxSize: number): boolean {
  const k = atMinSigStkSz - maxSize;
  return (k >= 516 && k <= 580) || (k >= 916 && k <= 990);
}

export interface GdbQuirk {
  /** `confirmed` by a layout note, `likely` from AT_MINSIGSTKSZ, `possible` with no evidence either way. */
  confidence: "confirmed" | "likely" | "possible";
  evidence: string;
  /** Registers whose bytes are not in the note (zeros there), e.g. `k0-k7`, `zmm0-zmm5 bits 256-511`. */
  lost: string[];
}

export interface CoreXsaveInfo {
  /** XCR0 from the XSTATE note (464..471); FP|SSE where there is no note. */
  xcr0: bigint;
  /** NT_X86_XSTATE size (first thread); 0 where there is none. */
  noteSize: number;
  /** The CPU's standard-format placement of the XCR0 extended components. */
  components: ComponentPlacement[];
  /** How `components` was obtained. */
  source: "layout-note" | "vendor-table" | "none";
  vendor: Vendor | "unknown";
  /** The XSTATE notes hold the CPU layout at its offsets (true also for the gdb-13 case: bytes kept stay in place). */
  gdbQuirk?: GdbQuirk;
  atMinSigStkSz?: number;
  /** Facts a user should see: reconstructions, inferences, quirks. */
  notes: string[];
}

/** Byte ranges gdb ≤ 13 copies into its NT_X86_XSTATE: the legacy area, header and Intel's ranges. */
function gdbCoveredRanges(xcr0: bigint): [number, number][] {
  const r: [number, number][] = [[0, MIN_XSTATE_SIZE]];
  for (const c of vendorPlacement("GenuineIntel", xcr0) ?? []) r.push([c.offset, c.offset + c.size]);
  return r;
}

/** Registers of a placement that lie (even partly) outside `covered`. */
export function lostRegisters(
  components: readonly ComponentPlacement[],
  covered: [number, number][],
): string[] {
  const inside = (a: number, b: number) => covered.some(([lo, hi]) => a >= lo && b <= hi);
  const out: string[] = [];
  const group = (
    prefix: string,
    first: number,
    count: number,
    width: number,
    off: number,
    suffix: string,
  ) => {
    const lost: number[] = [];
    for (let i = 0; i < count; i++) if (!inside(off + i * width, off + (i + 1) * width)) lost.push(first + i);
    // Compress into runs: k0-k7, zmm0-zmm5.
    let i = 0;
    while (i < lost.length) {
      let j = i;
      while (j + 1 < lost.length && lost[j + 1] === lost[j]! + 1) j++;
      const name = i === j ? `${prefix}${lost[i]}` : `${prefix}${lost[i]}-${prefix}${lost[j]}`;
      out.push(`${name}${suffix}`);
      i = j + 1;
    }
  };
  for (const c of components) {
    if (c.bit === XFEATURE.YMM) group("ymm", 0, 16, 16, c.offset, " bits 128-255");
    else if (c.bit === XFEATURE.OPMASK) group("k", 0, 8, 8, c.offset, "");
    else if (c.bit === XFEATURE.ZMM_Hi256) group("zmm", 0, 16, 32, c.offset, " bits 256-511");
    else if (c.bit === XFEATURE.Hi16_ZMM) group("zmm", 16, 16, 64, c.offset, "");
    else if (!inside(c.offset, c.offset + c.size)) out.push(componentInfo(c.bit).name);
  }
  return out;
}

/** What the XSAVE-related notes of a core say about the CPU (see the module comment). */
export function analyzeCoreXsave(core: ElfCore): CoreXsaveInfo {
  const notes: string[] = [];
  const at = auxvValue(core, AT.MINSIGSTKSZ);
  const atMin = at !== undefined && at > 0n && at < 1n << 32n ? Number(at) : undefined;
  const first = core.threads.find((t) => t.xstate);
  const noteSize = first?.xstate?.length ?? 0;
  const layout = core.xsaveLayout;
  let xcr0 = noteXcr0(core);
  const info = (x: Omit<CoreXsaveInfo, "notes" | "atMinSigStkSz">): CoreXsaveInfo => {
    const r: CoreXsaveInfo = { ...x, notes };
    if (atMin !== undefined) r.atMinSigStkSz = atMin;
    return r;
  };

  if (xcr0 === undefined) {
    if (!layout) {
      notes.push(
        "the core has no NT_X86_XSTATE note: the CPU's XSAVE features are unknown; only x87/SSE (FXSAVE) state is described",
      );
      return info({ xcr0: 0x3n, noteSize: 0, components: [], source: "none", vendor: "unknown" });
    }
    xcr0 = layout.reduce((m, e) => m | (1n << BigInt(e.type)), 0x3n);
    notes.push(
      `the core has no NT_X86_XSTATE note; XCR0 ${hex(xcr0)} is assumed from the components of NT_X86_XSAVE_LAYOUT`,
    );
  }
  if ((xcr0 & 0x3n) !== 0x3n) {
    notes.push(
      `XCR0 ${hex(xcr0)} in the NT_X86_XSTATE note lacks x87/SSE: the note is not a Linux XSAVE note`,
    );
    xcr0 |= 0x3n;
  }
  // Consistency of the other threads' notes.
  for (const t of core.threads) {
    if (t.xstate && t.xstate.length !== noteSize)
      notes.push(
        `thread ${t.tid}: NT_X86_XSTATE is ${t.xstate.length} bytes, thread ${first!.tid}'s is ${noteSize}`,
      );
  }
  const intel = vendorPlacement("GenuineIntel", xcr0);
  const amd = vendorPlacement("AuthenticAMD", xcr0);
  const intelSize = intel ? placementSize(intel) : undefined;
  const amdSize = amd ? placementSize(amd) : undefined;
  const gdbLost = (components: ComponentPlacement[]) => lostRegisters(components, gdbCoveredRanges(xcr0));

  if (layout) {
    const components = layout
      .filter((e) => e.type >= 2)
      .map((e) => ({ bit: e.type, size: e.size, offset: e.offset }))
      .sort((a, b) => a.bit - b.bit);
    notes.push(
      "XSAVE layout from the kernel's NT_X86_XSAVE_LAYOUT note; CPUID leaf 0xD reconstructed from it",
    );
    const inNote = components.reduce((m, c) => m | (1n << BigInt(c.bit)), 0x3n);
    if (inNote !== xcr0)
      notes.push(
        `NT_X86_XSAVE_LAYOUT lists components ${hex(inNote)} but XCR0 in NT_X86_XSTATE is ${hex(xcr0)}`,
      );
    const size = placementSize(components);
    const v = vendorOfPlacement(components);
    let vendor: Vendor | "unknown" = "unknown";
    if (v === "either")
      notes.push("the vendor cannot be told from this layout (Intel and AMD place these components alike)");
    else if (v) {
      vendor = v;
      notes.push(`vendor ${v} inferred from the component offsets (a core records no CPUID)`);
    } else
      notes.push("the component offsets match neither Intel's nor AMD's published layout; vendor unknown");
    let gdbQuirk: GdbQuirk | undefined;
    if (noteSize && noteSize !== size) {
      if (noteSize === intelSize && intelSize !== size) {
        gdbQuirk = {
          confidence: "confirmed",
          evidence: `NT_X86_XSTATE is ${noteSize} bytes (Intel's size for XCR0 ${hex(xcr0)}) but NT_X86_XSAVE_LAYOUT gives ${size}`,
          lost: gdbLost(components),
        };
      } else {
        notes.push(`NT_X86_XSTATE is ${noteSize} bytes but NT_X86_XSAVE_LAYOUT gives a ${size}-byte area`);
      }
    }
    if (atMin !== undefined && !minSigStkSzFits(atMin, size))
      notes.push(`AT_MINSIGSTKSZ ${atMin} does not fit an XSAVE area of ${size} bytes`);
    return info(withQuirk(notes, { xcr0, noteSize, components, source: "layout-note", vendor, gdbQuirk }));
  }

  notes.push(
    "the core has no NT_X86_XSAVE_LAYOUT note (Linux < 6.11, or written by gdb): offsets are taken from the vendor tables, CPUID leaf 0xD reconstructed from XCR0 and the note size",
  );
  if (!intel && !amd)
    throw new InvalidDataError(
      `XCR0 ${hex(xcr0)} has components whose offsets are unknown without NT_X86_XSAVE_LAYOUT`,
      {
        offset: first?.xstateOffset === undefined ? undefined : first.xstateOffset + 464,
        path: "NT_X86_XSTATE/xcr0",
      },
    );
  const fitsAt = (s: number | undefined) =>
    s !== undefined && atMin !== undefined && minSigStkSzFits(atMin, s);
  if (intelSize !== undefined && intelSize === amdSize) {
    notes.push(
      `XCR0 ${hex(xcr0)}: Intel and AMD place these components alike, so the vendor cannot be inferred; vendor unknown`,
    );
    if (noteSize && noteSize !== intelSize)
      notes.push(`NT_X86_XSTATE is ${noteSize} bytes, not the expected ${intelSize}`);
    return info({ xcr0, noteSize, components: intel!, source: "vendor-table", vendor: "unknown" });
  }
  if (core.writtenByGdb && noteSize === intelSize && amd) {
    // gdb's note size says nothing about the CPU: ≤ 13 always writes Intel's layout.
    if (fitsAt(amdSize) && !fitsAt(intelSize)) {
      notes.push(
        `vendor AuthenticAMD inferred: AT_MINSIGSTKSZ ${atMin} fits AMD's ${amdSize}-byte XSAVE area, not Intel's ${intelSize}`,
      );
      const gdbQuirk: GdbQuirk = {
        confidence: "likely",
        evidence: `written by gdb (NT_GDB_TDESC), no NT_X86_XSAVE_LAYOUT, NT_X86_XSTATE is Intel-sized (${noteSize}) while AT_MINSIGSTKSZ ${atMin} implies AMD's ${amdSize}`,
        lost: gdbLost(amd),
      };
      return info(
        withQuirk(notes, {
          xcr0,
          noteSize,
          components: amd,
          source: "vendor-table",
          vendor: "AuthenticAMD",
          gdbQuirk,
        }),
      );
    }
    if (fitsAt(intelSize) && !fitsAt(amdSize)) {
      notes.push(
        `vendor GenuineIntel inferred: AT_MINSIGSTKSZ ${atMin} fits Intel's ${intelSize}-byte XSAVE area`,
      );
      return info({ xcr0, noteSize, components: intel!, source: "vendor-table", vendor: "GenuineIntel" });
    }
    notes.push(
      `vendor assumed GenuineIntel from the ${noteSize}-byte NT_X86_XSTATE, but gdb writes that size on every CPU; nothing in the core tells Intel from AMD`,
    );
    const gdbQuirk: GdbQuirk = {
      confidence: "possible",
      evidence: "written by gdb (NT_GDB_TDESC) with an Intel-sized NT_X86_XSTATE and no NT_X86_XSAVE_LAYOUT",
      lost: gdbLost(amd),
    };
    return info(
      withQuirk(notes, {
        xcr0,
        noteSize,
        components: intel!,
        source: "vendor-table",
        vendor: "GenuineIntel",
        gdbQuirk,
      }),
    );
  }
  if (noteSize && noteSize === intelSize) {
    notes.push(
      `vendor GenuineIntel inferred from the NT_X86_XSTATE size ${noteSize} (Intel's size for XCR0 ${hex(xcr0)})`,
    );
    return info({ xcr0, noteSize, components: intel!, source: "vendor-table", vendor: "GenuineIntel" });
  }
  if (noteSize && noteSize === amdSize) {
    notes.push(
      `vendor AuthenticAMD inferred from the NT_X86_XSTATE size ${noteSize} (AMD's size for XCR0 ${hex(xcr0)})`,
    );
    return info({ xcr0, noteSize, components: amd!, source: "vendor-table", vendor: "AuthenticAMD" });
  }
  const guess: Vendor = fitsAt(amdSize) && amd ? "AuthenticAMD" : intel ? "GenuineIntel" : "AuthenticAMD";
  notes.push(
    `NT_X86_XSTATE is ${noteSize} bytes, matching neither Intel's (${intelSize ?? "n/a"}) nor AMD's (${amdSize ?? "n/a"}) size for XCR0 ${hex(xcr0)}; ${guess}'s offsets are assumed`,
  );
  return info({
    xcr0,
    noteSize,
    components: vendorPlacement(guess, xcr0)!,
    source: "vendor-table",
    vendor: "unknown",
  });
}

function withQuirk(
  notes: string[],
  x: Omit<CoreXsaveInfo, "notes" | "atMinSigStkSz">,
): Omit<CoreXsaveInfo, "notes" | "atMinSigStkSz"> {
  const q = x.gdbQuirk;
  if (!q) {
    const { gdbQuirk: _drop, ...rest } = x;
    return rest;
  }
  const head =
    q.confidence === "possible"
      ? "possible gdb ≤ 13 XSAVE quirk: if the CPU was AMD with AVX-512, gcore wrote NT_X86_XSTATE with Intel's offsets and these registers are zero in it"
      : `gdb ≤ 13 XSAVE quirk (${q.confidence}): gcore wrote NT_X86_XSTATE with Intel's offsets and size on a CPU with a different layout; bytes outside Intel's component ranges are zero`;
  notes.push(`${head}${q.lost.length ? `; lost: ${q.lost.join(", ")}` : ""} (${q.evidence})`);
  return x;
}

// CPUID feature bits implied by the components present (the gates of xsave_cpuid_features[]).
const LEAF1_ECX = { XSAVE: 26, OSXSAVE: 27, AVX: 28 };
const LEAF1_EDX = { FXSR: 24, SSE: 25, SSE2: 26 };

/** Builds a profile whose CPUID reproduces the placement under XCR0 (see the module comment). */
export function profileFromPlacement(
  name: string,
  x: Pick<CoreXsaveInfo, "xcr0" | "components" | "vendor" | "source">,
  notes: string[],
): Profile {
  const leaves: CpuidLeaf[] = [];
  const vendor = x.vendor === "unknown" ? "" : x.vendor;
  const vb = new Uint8Array(12);
  for (let i = 0; i < vendor.length; i++) vb[i] = vendor.charCodeAt(i);
  const vdv = new DataView(vb.buffer);
  const xsave = x.source !== "none";
  const has = (b: number) => hasBit(x.xcr0, b);
  leaves.push({
    leaf: 0,
    subleaf: 0,
    eax: 0xd,
    ebx: vdv.getUint32(0, true),
    edx: vdv.getUint32(4, true),
    ecx: vdv.getUint32(8, true),
  });
  let ecx1 = 0;
  if (xsave) ecx1 |= (1 << LEAF1_ECX.XSAVE) | (1 << LEAF1_ECX.OSXSAVE);
  if (has(XFEATURE.YMM)) ecx1 |= 1 << LEAF1_ECX.AVX;
  const edx1 = (1 << LEAF1_EDX.FXSR) | (1 << LEAF1_EDX.SSE) | (1 << LEAF1_EDX.SSE2);
  leaves.push({ leaf: 1, subleaf: 0, eax: 0, ebx: 0, ecx: ecx1 >>> 0, edx: edx1 >>> 0 });
  let ebx7 = 0;
  let ecx7 = 0;
  let edx7 = 0;
  if (has(XFEATURE.BNDREGS) || has(XFEATURE.BNDCSR)) ebx7 |= 1 << 14;
  if (has(XFEATURE.OPMASK) || has(XFEATURE.ZMM_Hi256) || has(XFEATURE.Hi16_ZMM)) ebx7 |= 1 << 16;
  if (has(XFEATURE.PKRU)) ecx7 |= (1 << 3) | (1 << 4);
  if (has(XFEATURE.XTILECFG) || has(XFEATURE.XTILEDATA)) edx7 |= 1 << 24;
  const apx = has(XFEATURE.APX);
  leaves.push({ leaf: 7, subleaf: 0, eax: apx ? 1 : 0, ebx: ebx7 >>> 0, ecx: ecx7 >>> 0, edx: edx7 >>> 0 });
  if (apx) leaves.push({ leaf: 7, subleaf: 1, eax: 0, ebx: 0, ecx: 0, edx: 1 << 21 });
  if (xsave) {
    const size = placementSize(x.components);
    leaves.push({
      leaf: 0xd,
      subleaf: 0,
      eax: Number(x.xcr0 & 0xffffffffn) >>> 0,
      edx: Number((x.xcr0 >> 32n) & 0xffffffffn) >>> 0,
      ebx: size,
      ecx: size,
    });
    // XFD is implied by AMX (Linux clears the tile components without it).
    const xfd = has(XFEATURE.XTILEDATA) ? 1 << 4 : 0;
    leaves.push({ leaf: 0xd, subleaf: 1, eax: xfd, ebx: 0, ecx: 0, edx: 0 });
    for (const c of x.components) {
      const ecx = c.bit === XFEATURE.XTILEDATA ? 6 : c.bit === XFEATURE.XTILECFG ? 2 : 0;
      leaves.push({ leaf: 0xd, subleaf: c.bit, eax: c.size, ebx: c.offset, ecx, edx: 0 });
    }
  }
  leaves.push({ leaf: 0x80000000, subleaf: 0, eax: 0x80000000, ebx: 0, ecx: 0, edx: 0 });
  const p: Profile = {
    name,
    source: { kind: "elf-core", path: name },
    vendor: x.vendor,
    family: 0,
    model: 0,
    stepping: 0,
    cpuid: new Cpuid(leaves),
    xcr0: x.xcr0,
    notes: [
      ...notes,
      "CPUID was reconstructed from the core's notes: only leaves 0, 1, 7 and 0xD are present, family/model/stepping are unknown (0)",
    ],
  };
  return p;
}

/** The CPU of a core as a profile (see analyzeCoreXsave for what is inferred and how). */
export function profileFromCore(
  core: ElfCore,
  name: string,
  x: CoreXsaveInfo = analyzeCoreXsave(core),
): Profile {
  const p = profileFromPlacement(name, x, x.notes);
  if (x.atMinSigStkSz !== undefined) p.atMinSigStkSz = x.atMinSigStkSz;
  // MXCSR_MASK (legacy area offset 28). gdb writes 0 there (it does not track it): 0 is "unknown"
  // here, not the architectural default, so it is left out.
  const t = core.threads.find((x) => x.xstate || x.fpregs);
  const fx = t?.xstate ?? t?.fpregs;
  if (fx) {
    const mask = new DataView(fx.buffer, fx.byteOffset, fx.byteLength).getUint32(28, true);
    if (mask !== 0) p.mxcsrMask = mask;
  }
  return p;
}
