/**
 * An ELF core's source CPU, cross-checked with the signal frames on its stacks.
 *
 * A core records no CPUID. Its XSAVE notes are a strong record when the kernel wrote them with an
 * NT_X86_XSAVE_LAYOUT note (v6.11+): the kernel that dumped the core knew its layout, and a live
 * frame it does not explain was written elsewhere (a migrated process). They are a weak record
 * otherwise: gdb ≤ 13 writes NT_X86_XSTATE from its own idea of the layout (Intel's offsets, no
 * AMX, XCR0 of its target description), and a pre-6.11 kernel's note gives XCR0 and a size but
 * the offsets are taken from vendor tables. Live frames written by the kernel state the task's
 * user_xfeatures and user_size (frame-fit.ts): against a weak record they win, and the profile is
 * rebuilt from them (the vendor whose standard layout gives their size; AMX tile data where
 * AT_MINSIGSTKSZ shows the kernel's maximum size includes it). The profile's notes say which
 * source wins and why.
 */
import type { CoreXsaveInfo } from "../elf/profile.ts";
import { bit, hasBit, hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { minSigStkSzFits, placementSize, vendorPlacement } from "../profiles/placement.ts";
import { XFEATURE } from "../xsave/components.ts";
import { computeLayout } from "../xsave/layout.ts";
import { type FrameSize, frameWords, profileWriting, vendorsWriting, writes } from "./frame-fit.ts";

/** What a core records about its CPU besides the profile built from its notes. */
export interface CoreRecord {
  xsave: CoreXsaveInfo;
  writtenByGdb: boolean;
}

export interface SettledCoreCpu {
  profile: Profile;
  /** Which record the layout comes from. */
  source: "notes" | "frames";
  notes: string[];
}

function distinct(frames: readonly FrameSize[]): FrameSize[] {
  const out: FrameSize[] = [];
  for (const f of frames)
    if (!out.some((x) => x.xfeatures === f.xfeatures && x.xstateSize === f.xstateSize)) out.push(f);
  return out;
}

function recordWords(r: CoreRecord): string {
  if (r.writtenByGdb)
    return `gdb's NT_X86_XSTATE note (XCR0 ${hex(r.xsave.xcr0)}, ${r.xsave.noteSize} bytes)`;
  return r.xsave.source === "layout-note"
    ? "the kernel's NT_X86_XSAVE_LAYOUT note"
    : `the kernel's NT_X86_XSTATE note (XCR0 ${hex(r.xsave.xcr0)}, ${r.xsave.noteSize} bytes; offsets from the vendor tables)`;
}

/** The core's CPU given the live frames found on its stacks (see the module comment). */
export function settleCoreCpu(
  profile: Profile,
  record: CoreRecord,
  live: readonly FrameSize[],
): SettledCoreCpu {
  const strong = record.xsave.source === "layout-note" && !record.writtenByGdb;
  const what = recordWords(record);
  if (live.length === 0)
    return {
      profile,
      source: "notes",
      notes: strong ? [] : [`no live signal frame on the stacks to cross-check ${what} with`],
    };
  const l = computeLayout(profile);
  const bad = distinct(live.filter((f) => !writes(l, f)));
  const n = `${live.length} live frame${live.length === 1 ? "" : "s"}`;
  if (bad.length === 0)
    return {
      profile,
      source: "notes",
      // A kernel's layout note that the frames confirm is not worth a line; a weak record is.
      notes: strong
        ? []
        : [
            `the ${n} on the stacks ${live.length === 1 ? "agrees" : "agree"} with ${what}: ${frameWords(distinct(live))}`,
          ],
    };
  if (strong)
    return {
      profile,
      source: "notes",
      notes: [
        `the layout is ${what}'s (the kernel that dumped the core wrote it); ${frameWords(bad)} in frames on the stacks is not what it writes: those frames were written on another host or kernel configuration`,
      ],
    };
  // A weak record: the frames the kernel wrote win, where one vendor layout gives all of them.
  const vendors = new Set(bad.flatMap((f) => vendorsWriting(f)));
  const widest = bad.reduce((a, f) => (f.xstateSize > a.xstateSize ? f : a));
  let xcr0 = bad.reduce((m, f) => m | f.xfeatures, 0x3n);
  const notes: string[] = [];
  if (vendors.size === 1 && hasBit(xcr0, XFEATURE.XTILECFG) && !hasBit(xcr0, XFEATURE.XTILEDATA)) {
    // Tile data is only in the frames of a task that asked for it; AT_MINSIGSTKSZ is derived from
    // the kernel's maximum size, which includes it where the CPU has it.
    const withTiles = vendorPlacement([...vendors][0]!, xcr0 | bit(XFEATURE.XTILEDATA));
    const at = profile.atMinSigStkSz;
    if (withTiles && at !== undefined && minSigStkSzFits(at, placementSize(withTiles))) {
      xcr0 |= bit(XFEATURE.XTILEDATA);
      notes.push(
        `XTILEDATA (AMX tile data) added: AT_MINSIGSTKSZ ${at} fits the ${placementSize(withTiles)}-byte maximum size with it, and tile data is only in the frames of a task that asked for it`,
      );
    }
  }
  const rebuilt = vendors.size === 1 ? profileWriting(widest, profile.name, xcr0) : undefined;
  if (
    !rebuilt ||
    !live.every((f) => writes(computeLayout(rebuilt), f) || writes(computeLayout(rebuilt, { amx: true }), f))
  )
    return {
      profile,
      source: "notes",
      notes: [
        `the ${n} on the stacks state ${frameWords(bad)}, which ${what} does not give and no single published layout explains: the notes' layout is kept, and frames are read with the layout that gives their size where one does`,
      ],
    };
  const vendor = rebuilt.vendor;
  const p: Profile = {
    ...rebuilt,
    source: profile.source,
    xcr0Basis: "the live frames' xfeatures",
    notes: [
      `XSAVE layout from the live signal frames, not from ${what}: ${record.writtenByGdb ? "gdb ≤ 13 writes that note from its own idea of the layout (Intel's offsets, no AMX), not from the CPU" : "that note gives XCR0 and a size, not the offsets"}; the kernel wrote the ${n} on the stacks with ${frameWords(bad)}, and ${vendor}'s standard layout is the only published one that gives that size`,
      ...notes,
    ],
  };
  if (profile.atMinSigStkSz !== undefined) p.atMinSigStkSz = profile.atMinSigStkSz;
  if (profile.mxcsrMask !== undefined) p.mxcsrMask = profile.mxcsrMask;
  return { profile: p, source: "frames", notes: p.notes };
}
