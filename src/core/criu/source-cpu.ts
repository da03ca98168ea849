/**
 * The CPU a checkpoint was taken on, from the best record it has, in order:
 *
 * 1. `cpuinfo.img` (only with `criu dump --cpu-cap`);
 * 2. `dump.log`: the XSAVE layout compel logged at debug level (what runc and crun record);
 * 3. the `core-*.img` files: which XSAVE components the dumping CPU had (CRIU allocates each
 *    component's array when the CPU supports it, set or not), and the sizes the kernel wrote in
 *    the signal frames on the stacks. Component offsets are not recorded there: they are taken
 *    from the vendor whose standard layout gives the frames' xstate_size, and the profile says so.
 */
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { bitsOf, hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { VENDOR_OFFSETS } from "../xsave/components.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { parseDumpLog, profileFromDumpLog } from "./dump-log.ts";

export type CpuSource = "cpuinfo.img" | "dump.log" | "core-*.img";

export interface SourceCpu {
  profile?: Profile;
  source?: CpuSource;
  notes: string[];
}

/** A signal frame as the kernel wrote it on the source: its feature mask and size. */
export interface FrameSize {
  xfeatures: bigint;
  xstateSize: number;
}

/** XSAVE components CRIU stores, by the core image's xsave array that holds each. */
const ARRAYS: readonly [bit: number, field: string][] = [
  [2, "ymmhSpace"],
  [3, "bndregState"],
  [4, "bndcsrState"],
  [5, "opmaskReg"],
  [6, "zmmUpper"],
  [7, "hi16Zmm"],
  [9, "pkru"],
];

function userSize(vendor: keyof typeof VENDOR_OFFSETS, mask: bigint): number | undefined {
  let end = 576;
  for (const b of bitsOf(mask)) {
    if (b < 2) continue;
    const t = VENDOR_OFFSETS[vendor][b];
    if (!t) return undefined;
    end = Math.max(end, t[0] + t[1]);
  }
  return end;
}

/** What the core images (and the frames found on the stacks) show of the source CPU. */
export function profileFromCoreImages(
  cp: Checkpoint,
  frames: readonly FrameSize[],
  name: string,
): Profile | undefined {
  let mask = 3n;
  let any = false;
  for (const p of cp.processes)
    for (const t of p.threads) {
      const x = t.core.threadInfo?.fpregs?.xsave as unknown as Record<string, unknown[]> | undefined;
      if (!x) continue;
      any = true;
      for (const [bit, field] of ARRAYS) if ((x[field]?.length ?? 0) > 0) mask |= 1n << BigInt(bit);
    }
  if (!any) return undefined;
  const notes = [
    `from core-*.img: the dumping CPU had XSAVE components ${hex(mask)} (the arrays CRIU allocates for the components a CPU supports); it is not known whether it had components CRIU does not store (AMX, APX)`,
  ];
  let vendor: keyof typeof VENDOR_OFFSETS | undefined;
  const f = frames[0];
  if (f) {
    const fits = (Object.keys(VENDOR_OFFSETS) as (keyof typeof VENDOR_OFFSETS)[]).filter(
      (v) => userSize(v, f.xfeatures) === f.xstateSize,
    );
    if (fits.length === 1) {
      vendor = fits[0];
      notes.push(
        `component offsets: ${vendor}'s standard layout, the only one whose size for xfeatures ${hex(f.xfeatures)} is the ${f.xstateSize} bytes the kernel wrote in the frames on the stacks; the CPU model is unknown`,
      );
    }
  }
  if (!vendor) {
    vendor = "GenuineIntel";
    notes.push(
      "component offsets are unknown (no cpuinfo.img, no dump.log at log level 4, no signal frame on the stacks to measure): Intel's standard layout is assumed; give --from for the real source CPU",
    );
  }
  const leaves: CpuidLeaf[] = [];
  const v = vendor;
  const word = (i: number) =>
    (v.charCodeAt(i) |
      (v.charCodeAt(i + 1) << 8) |
      (v.charCodeAt(i + 2) << 16) |
      (v.charCodeAt(i + 3) << 24)) >>>
    0;
  leaves.push({ leaf: 0, subleaf: 0, eax: 0xd, ebx: word(0), edx: word(4), ecx: word(8) });
  let ecx1 = (1 << 26) | (1 << 27);
  if (mask & 4n) ecx1 |= 1 << 28;
  leaves.push({
    leaf: 1,
    subleaf: 0,
    eax: 0,
    ebx: 0,
    ecx: ecx1 >>> 0,
    edx: ((1 << 0) | (1 << 24) | (1 << 25) | (1 << 26)) >>> 0,
  });
  let ebx7 = 0;
  let ecx7 = 0;
  if (mask & 0x18n) ebx7 |= 1 << 14;
  if (mask & 0xe0n) ebx7 |= 1 << 16;
  if (mask & 0x200n) ecx7 |= (1 << 3) | (1 << 4);
  leaves.push({ leaf: 7, subleaf: 0, eax: 0, ebx: ebx7 >>> 0, ecx: ecx7 >>> 0, edx: 0 });
  const size = userSize(vendor, mask) ?? 576;
  leaves.push({ leaf: 0xd, subleaf: 0, eax: Number(mask) >>> 0, ebx: size, ecx: size, edx: 0 });
  for (const b of bitsOf(mask)) {
    const t = b >= 2 ? VENDOR_OFFSETS[vendor][b] : undefined;
    if (t) leaves.push({ leaf: 0xd, subleaf: b, eax: t[1], ebx: t[0], ecx: 0, edx: 0 });
  }
  return {
    name,
    source: { kind: "criu-core", path: name },
    vendor,
    family: 0,
    model: 0,
    stepping: 0,
    cpuid: new Cpuid(leaves),
    xcr0: mask,
    cpuidReconstructed: "CRIU's core images record no CPUID; leaves rebuilt from their XSAVE arrays",
    xcr0Basis: "the XSAVE arrays CRIU's core images hold",
    notes,
  };
}

/**
 * The source CPU by the order above. `dumpLog` is the text of the checkpoint's dump.log, where
 * there is one; `frames` the signal frames found on its stacks (for the last resort).
 */
export function sourceCpu(
  cp: Checkpoint,
  dumpLog: string | undefined,
  frames: readonly FrameSize[],
  name: string,
): SourceCpu {
  if (cp.cpu) return { profile: cp.cpu, source: "cpuinfo.img", notes: [] };
  const notes: string[] = ["no cpuinfo.img (the dump was taken without --cpu-cap)"];
  if (dumpLog !== undefined) {
    const d = parseDumpLog(dumpLog, `${name} dump.log`);
    if (d) return { profile: profileFromDumpLog(d, `${name} (dump.log)`), source: "dump.log", notes };
    notes.push("dump.log has no 'cpu: fpu:' lines (CRIU logged below level 4)");
  } else notes.push("no dump.log");
  const p = profileFromCoreImages(cp, frames, `${name} (core-*.img)`);
  if (p) return { profile: p, source: "core-*.img", notes };
  return { notes };
}
