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
import { InvalidDataError } from "../errors.ts";
import { hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import {
  type ComponentPlacement,
  minSigStkSzFits,
  placementSize,
  profileFromPlacement,
  vendorPlacement,
} from "../profiles/placement.ts";
import {
  componentInfo,
  MIN_XSTATE_SIZE,
  VENDOR_OFFSETS,
  type Vendor,
  XFEATURE,
} from "../xsave/components.ts";
import { auxvValue, type ElfCore, noteXcr0 } from "./core.ts";
import { AT } from "./format.ts";

export {
  type ComponentPlacement,
  minSigStkSzFits,
  type PlacementRecord,
  placementSize,
  profileFromPlacement,
  vendorPlacement,
} from "../profiles/placement.ts";
export type { Vendor };

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

/** The CPU of a core as a profile (see analyzeCoreXsave for what is inferred and how). */
export function profileFromCore(
  core: ElfCore,
  name: string,
  x: CoreXsaveInfo = analyzeCoreXsave(core),
): Profile {
  const p = profileFromPlacement(name, x, x.notes);
  p.xcr0Basis = core.writtenByGdb
    ? "gdb's NT_X86_XSTATE note, not read from the CPU"
    : "the core's NT_X86_XSTATE note";
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
