/**
 * The XSAVE layout engine: from a profile's CPUID leaf 0xD (and the feature bits that gate each
 * component) to the standard-format layout, the compacted offsets, the features Linux enables and
 * the sizes of the signal frames it writes.
 *
 * Modelled on arch/x86/kernel/fpu/xstate.c (v6.18): fpu__init_system_xstate(),
 * setup_xstate_cache(), xstate_calculate_size(), and the xsave_cpuid_features[] gate table.
 */
import type { FeatureName } from "../cpuid/cpuid.ts";
import { bit, bitsOf, hasBit } from "../hex.ts";
import { atLeast, type KernelVersion } from "../kernel.ts";
import { type Profile, type ProfileSummary, profileSummary } from "../profile.ts";
import {
  componentInfo,
  FP_XSTATE_MAGIC2_SIZE,
  FXSAVE_SIZE,
  MASK_FPSSE,
  MASK_USER_DYNAMIC,
  MIN_XSTATE_SIZE,
  XFEATURE,
} from "./components.ts";
import { MAX_XSAVE_SIZE, xsaveLeafProblem } from "./limits.ts";

export interface XComponent {
  bit: number;
  name: string;
  description: string;
  /** CPUID(0xD,i).EAX; x87 160, SSE 256. */
  size: number;
  /** Standard-format offset CPUID(0xD,i).EBX; 0 for supervisor components (they have none). */
  offset: number;
  /** Offset in the compacted form over `compactedMask`; null when not part of it. */
  compactedOffset: number | null;
  supervisor: boolean;
  /** CPUID(0xD,i).ECX bit 1: 64-byte aligned in the compacted form. */
  align64: boolean;
  /** CPUID(0xD,i).ECX bit 2: can be armed with XFD (extended feature disable). */
  xfd: boolean;
  /** Enumerated by CPUID(0xD,0) EDX:EAX (user) or CPUID(0xD,1) EDX:ECX (supervisor). */
  supported: boolean;
  /** In XCR0 as Linux sets it (user components) or in IA32_XSS (supervisor). */
  inXcr0: boolean;
  /** Part of the task's user features (`fpstate->user_xfeatures`): saved into signal frames. */
  enabled: boolean;
  /** XFEATURE_MASK_USER_DYNAMIC: only after ARCH_REQ_XCOMP_PERM and first use. */
  dynamic: boolean;
  /** Why a supported component is not enabled, where it is not. */
  reason?: string;
}

export interface LayoutOptions {
  /** Kernel the layout is computed for; default: the profile's recorded XCR0, else the newest rules. */
  kernel?: KernelVersion;
  /**
   * Force XCR0 (user part; an architecturally valid value, see `xcr0Problem`): bits the CPU or the
   * kernel cannot enable are dropped with a warning.
   */
  xcr0?: bigint;
  /** The task has enabled AMX tile data (ARCH_REQ_XCOMP_PERM + first use): user_size grows. */
  amx?: boolean;
}

export interface XsaveLayout {
  profile: ProfileSummary;
  kernel?: string;
  /** False on a CPU without XSAVE (or where Linux would disable it): FXSAVE-only frames. */
  xsave: boolean;
  /** XSAVEC (CPUID(0xD,1).EAX[1]): the compacted form, which glibc's trampolines use. */
  xsavec?: boolean;
  /** User part of XCR0 as Linux sets it (incl. dynamic features). */
  xcr0: bigint;
  /**
   * Where `xcr0` comes from: the Linux rules for the CPU (and `kernel`), the value the profile
   * recorded on its machine, or a forced `LayoutOptions.xcr0` (`xcr0Requested`) restricted to them.
   */
  xcr0Source: "rules" | "measured" | "forced";
  xcr0Requested?: bigint;
  /** Supervisor features Linux sets in IA32_XSS (compacted buffers only). */
  xss: bigint;
  /** The task's user features (fpstate->user_xfeatures): default, or with tile data if `amx`. */
  userFeatures: bigint;
  /** Standard-format size of `userFeatures`: fpstate->user_size, the frames' xstate_size. */
  userSize: number;
  /** Standard-format size of all XCR0 user features (fpu_user_cfg.max_size). */
  maxUserSize: number;
  /** CPUID(0xD,0).ECX: size for every XCR0-supportable component. */
  maxSize: number;
  /** CPUID(0xD,0).EBX as recorded (reflects the OS that took the dump, not Linux). */
  cpuidXcr0Size: number;
  frame: { xstateSize: number; extendedSize: number };
  components: XComponent[];
  /** Components whose sub-leaf is missing from the dump: sizes involving them are unknown. */
  missingSubleaves: number[];
  warnings: string[];
}

/**
 * xsave_cpuid_features[] (arch/x86/kernel/fpu/xstate.c): a component is cleared from XCR0 when
 * the CPUID feature that governs it is absent. PKRU uses PKU here: a dump's OSPKE reflects the OS
 * that made it.
 */
const GATES: Record<number, FeatureName> = {
  [XFEATURE.YMM]: "AVX",
  [XFEATURE.BNDREGS]: "MPX",
  [XFEATURE.BNDCSR]: "MPX",
  [XFEATURE.OPMASK]: "AVX512F",
  [XFEATURE.ZMM_Hi256]: "AVX512F",
  [XFEATURE.Hi16_ZMM]: "AVX512F",
  [XFEATURE.PKRU]: "PKU",
  [XFEATURE.PASID]: "ENQCMD",
  [XFEATURE.CET_U]: "CET_SS",
  [XFEATURE.CET_S]: "CET_SS",
  [XFEATURE.XTILECFG]: "AMX_TILE",
  [XFEATURE.XTILEDATA]: "AMX_TILE",
  [XFEATURE.APX]: "APX_F",
};

/**
 * First mainline release whose XFEATURE_MASK_USER_SUPPORTED / SUPERVISOR_SUPPORTED includes the
 * component. MPX stays in USER_SUPPORTED after its user ABI was removed in v5.6 (45fc24e89b7c
 * removed arch/x86/mm/mpx.c, not the xstate component), so MPX CPUs keep it in XCR0. LWP is never.
 */
const SINCE: Record<number, [number, number]> = {
  [XFEATURE.YMM]: [2, 6],
  [XFEATURE.BNDREGS]: [3, 19],
  [XFEATURE.BNDCSR]: [3, 19],
  [XFEATURE.OPMASK]: [3, 15],
  [XFEATURE.ZMM_Hi256]: [3, 15],
  [XFEATURE.Hi16_ZMM]: [3, 15],
  [XFEATURE.PKRU]: [4, 6],
  [XFEATURE.PASID]: [5, 18],
  [XFEATURE.CET_U]: [6, 6],
  [XFEATURE.CET_S]: [6, 17],
  [XFEATURE.XTILECFG]: [5, 16],
  [XFEATURE.XTILEDATA]: [5, 16],
  [XFEATURE.APX]: [6, 16],
};

/** Kernel-supported user components (XFEATURE_MASK_USER_SUPPORTED, v6.16+ with APX). */
const USER_SUPPORTED = [0, 1, 2, 3, 4, 5, 6, 7, 9, 17, 18, 19];
/**
 * XFEATURE_MASK_SUPERVISOR_SUPPORTED: PASID and CET_U (v6.6+), and CET_S since "x86/fpu/xstate:
 * Add CET supervisor xfeature support" (Yang Weijiang / Chao Gao, KVM CET prerequisites, v6.17).
 * CET_S is guest-only in task buffers but fpu__init_cpu_xstate() writes it into IA32_XSS, which is
 * what CPUID(0xD,1).EBX measures: a v6.18 guest with XCR0 0xe7 on Zen 5 reports 2472 = 2432 + 16 + 24.
 */
const SUPERVISOR_SUPPORTED = [10, 11, 12];

/** Computes the layout of `profile` under the options' kernel. Pure; never throws on odd dumps. */
export function computeLayout(profile: Profile, opts: LayoutOptions = {}): XsaveLayout {
  const cpu = profile.cpuid;
  const warnings: string[] = [];
  const sl0 = cpu.get(0xd, 0);
  const sl1 = cpu.get(0xd, 1);
  const cpuXsave = cpu.has("XSAVE") && sl0 !== undefined && cpu.inRange(0xd);
  const supportedUser = sl0 ? (BigInt(sl0.edx >>> 0) << 32n) | BigInt(sl0.eax >>> 0) : MASK_FPSSE;
  const supportedSup = sl1 ? (BigInt(sl1.edx >>> 0) << 32n) | BigInt(sl1.ecx >>> 0) : 0n;

  // Per-component CPUID data (setup_xstate_cache()).
  const raw = new Map<number, { size: number; offset: number; ecx: number }>();
  raw.set(0, { size: 160, offset: 0, ecx: 0 });
  raw.set(1, { size: 256, offset: 160, ecx: 0 });
  const missing: number[] = [];
  const impossible = new Map<number, string>();
  for (const i of bitsOf(supportedUser | supportedSup)) {
    if (i < 2) continue;
    const l = cpu.get(0xd, i);
    if (!l || (l.eax === 0 && l.ebx === 0 && l.ecx === 0)) {
      missing.push(i);
      continue;
    }
    // Readers refuse such leaves; a profile built in code is held to the same bound here. A
    // component XCR0 can enable is placed at its EBX even when its sub-leaf sets the supervisor
    // bit, so it is held to the bounds of a user component.
    const user = (supportedUser >> BigInt(i)) & 1n;
    const problem = xsaveLeafProblem(user ? { ...l, ecx: l.ecx & ~1 } : l);
    if (problem) {
      warnings.push(`${problem.what}: ${componentInfo(i).name} is left out`);
      impossible.set(i, problem.what);
      continue;
    }
    raw.set(i, { size: l.eax >>> 0, offset: l.ebx >>> 0, ecx: l.ecx >>> 0 });
  }
  const unusable = (i: number) => missing.includes(i) || impossible.has(i);
  if (missing.length) {
    warnings.push(
      `the dump lacks CPUID(0xD,i) for ${missing.map((i) => `${i} (${componentInfo(i).name})`).join(", ")}: their size and offset are unknown and they are left out`,
    );
  }

  // XCR0 as Linux sets it: hardware ∩ kernel-supported ∩ CPUID gate (fpu__init_system_xstate()).
  const kernel = opts.kernel;
  const why = new Map<number, string>();
  let xcr0 = MASK_FPSSE;
  for (const i of bitsOf(supportedUser)) {
    if (i < 2) continue;
    const name = componentInfo(i).name;
    if (!USER_SUPPORTED.includes(i)) {
      why.set(i, `Linux does not support ${name} (not in XFEATURE_MASK_USER_SUPPORTED)`);
      continue;
    }
    const gate = GATES[i];
    if (gate && !cpu.has(gate)) {
      why.set(
        i,
        `listed in CPUID(0xD,0) but CPUID lacks ${gate}, so Linux clears it (xsave_cpuid_features[])`,
      );
      continue;
    }
    const since = SINCE[i];
    if (kernel && since && !atLeast(kernel, since[0], since[1])) {
      why.set(i, `Linux ${kernel.text} predates ${name} support (v${since[0]}.${since[1]})`);
      continue;
    }
    if (i === XFEATURE.XTILEDATA || i === XFEATURE.XTILECFG) {
      // "no XFD => no AMX tiles" (v5.16 fpu__init_system_xstate()).
      if (!cpu.has("XFD")) {
        why.set(i, "AMX needs XFD (CPUID(0xD,1).EAX[4]); without it Linux clears the tile components");
        continue;
      }
    }
    if (missing.includes(i)) {
      why.set(i, "its CPUID(0xD,i) sub-leaf is missing from the dump");
      continue;
    }
    if (impossible.has(i)) {
      why.set(i, impossible.get(i)!);
      continue;
    }
    xcr0 |= bit(i);
  }
  // v6.16 (ea68e39190cf): a CPU that enumerates both MPX and APX is distrusted: XSAVE is disabled.
  let xsave = cpuXsave;
  if (
    xsave &&
    hasBit(xcr0, XFEATURE.APX) &&
    (hasBit(xcr0, XFEATURE.BNDREGS) || hasBit(xcr0, XFEATURE.BNDCSR))
  ) {
    warnings.push("the CPU enumerates both MPX and APX: Linux v6.16+ disables XSAVE entirely (ea68e39190cf)");
    xsave = false;
  }

  let xcr0Source: XsaveLayout["xcr0Source"] = profile.xcr0 !== undefined && !kernel ? "measured" : "rules";
  if (opts.xcr0 !== undefined) {
    // A forced XCR0 restricts what Linux would enable on this CPU under this kernel; it cannot add
    // what the CPU lacks or the kernel does not support. Each dropped bit is said, with its reason.
    xcr0Source = "forced";
    const rules = xcr0;
    const dropped = opts.xcr0 & ~rules;
    for (const i of bitsOf(dropped)) {
      const name = componentInfo(i).name;
      const reason = !hasBit(supportedUser, i)
        ? "not supported by this CPU (CPUID(0xD,0))"
        : (why.get(i) ?? "Linux does not enable it here");
      warnings.push(`--xcr0 bit ${i} (${name}) dropped: ${reason}`);
    }
    xcr0 = opts.xcr0 & rules;
  } else if (profile.xcr0 !== undefined && !kernel) {
    // A measured XCR0 is what Linux really set on that machine.
    const measured = profile.xcr0 & supportedUser;
    if (measured !== xcr0) {
      warnings.push(
        `recorded XCR0 ${`0x${profile.xcr0.toString(16)}`} differs from what the rules give (0x${xcr0.toString(16)}); using the recorded value`,
      );
    }
    xcr0 = measured | MASK_FPSSE;
    for (const i of bitsOf(xcr0)) if (unusable(i)) xcr0 &= ~bit(i);
  }
  if (!xsave) xcr0 = MASK_FPSSE;

  let xss = 0n;
  for (const i of bitsOf(supportedSup)) {
    if (!SUPERVISOR_SUPPORTED.includes(i) || unusable(i)) continue;
    const gate = GATES[i];
    if (gate && !cpu.has(gate)) continue;
    const since = SINCE[i];
    if (kernel && since && !atLeast(kernel, since[0], since[1])) continue;
    if (!cpu.has("XSAVES")) continue;
    xss |= bit(i);
  }
  if (!xsave) xss = 0n;

  const defaultFeatures = xcr0 & ~MASK_USER_DYNAMIC;
  let userFeatures = defaultFeatures;
  if (opts.amx) {
    if (hasBit(xcr0, XFEATURE.XTILEDATA)) userFeatures = xcr0;
    else warnings.push("--amx: this CPU/kernel has no AMX tile data in XCR0; the task cannot enable it");
  }

  const sizeOf = (mask: bigint) => (xsave ? standardSizeOf(raw, mask) : FXSAVE_SIZE);
  const userSize = sizeOf(userFeatures);
  const maxUserSize = sizeOf(xcr0);

  // Compacted offsets over XCR0 | XSS, ascending, aligned where ECX[1] (xstate.c setup_xstate_comp_offsets()).
  const compactedMask = xcr0 | xss;
  const compacted = compactedOffsets(raw, compactedMask);

  const components: XComponent[] = [];
  const all = new Set<number>([0, 1, ...raw.keys(), ...missing, ...impossible.keys()]);
  for (const i of [...all].sort((a, b) => a - b)) {
    const info = componentInfo(i);
    const r = raw.get(i);
    const supervisor = r ? (r.ecx & 1) === 1 : info.supervisor;
    const supported = hasBit(supervisor ? supportedSup : supportedUser, i);
    const inXcr0 = hasBit(supervisor ? xss : xcr0, i);
    const enabled = !supervisor && hasBit(userFeatures, i);
    const c: XComponent = {
      bit: i,
      name: info.name,
      description: info.description,
      size: r?.size ?? 0,
      offset: supervisor ? 0 : (r?.offset ?? 0),
      compactedOffset: compacted.get(i) ?? null,
      supervisor,
      align64: r ? (r.ecx & 2) === 2 : false,
      xfd: r ? (r.ecx & 4) === 4 : false,
      supported,
      inXcr0,
      enabled,
      dynamic: i === XFEATURE.XTILEDATA,
    };
    if (!enabled && !supervisor) {
      const reason =
        why.get(i) ??
        (!xsave && i >= 2
          ? "XSAVE is not in use: frames are FXSAVE-only"
          : i === XFEATURE.XTILEDATA && inXcr0
            ? "dynamic: only after ARCH_REQ_XCOMP_PERM and first use (--amx)"
            : opts.xcr0 !== undefined || profile.xcr0 !== undefined
              ? "not in XCR0"
              : undefined);
      if (reason) c.reason = reason;
    }
    if (supervisor && !inXcr0) c.reason = "supervisor state: never in a user signal frame";
    if (r && info.archSize !== undefined && r.size !== info.archSize && i >= 2) {
      warnings.push(
        `CPUID(0xD,${i}).EAX = ${r.size} but ${info.name} is ${info.archSize} bytes architecturally`,
      );
    }
    components.push(c);
  }

  const layout: XsaveLayout = {
    profile: profileSummary(profile),
    xsave,
    xsavec: xsave && cpu.has("XSAVEC"),
    xcr0,
    xcr0Source,
    xss,
    userFeatures,
    userSize,
    maxUserSize,
    maxSize: sl0 ? Math.min(sl0.ecx >>> 0, MAX_XSAVE_SIZE) : FXSAVE_SIZE,
    cpuidXcr0Size: sl0 ? Math.min(sl0.ebx >>> 0, MAX_XSAVE_SIZE) : FXSAVE_SIZE,
    // xstate_sigframe_size(): user_size + FP_XSTATE_MAGIC2_SIZE when XSAVE is used.
    frame: { xstateSize: userSize, extendedSize: xsave ? userSize + FP_XSTATE_MAGIC2_SIZE : userSize },
    components,
    missingSubleaves: missing,
    warnings,
  };
  if (kernel) layout.kernel = kernel.text;
  if (opts.xcr0 !== undefined) layout.xcr0Requested = opts.xcr0;
  return layout;
}

function standardSizeOf(raw: Map<number, { size: number; offset: number }>, mask: bigint): number {
  // xstate_calculate_size(mask, false): end of the component that ends last (the APX "order
  // table" makes this the maximum, not the topmost bit, since APX sits at 960).
  let end = MIN_XSTATE_SIZE;
  for (const i of bitsOf(mask)) {
    if (i < 2) continue;
    const r = raw.get(i);
    if (r) end = Math.max(end, r.offset + r.size);
  }
  return end;
}

function compactedOffsets(
  raw: Map<number, { size: number; ecx: number }>,
  mask: bigint,
): Map<number, number> {
  const out = new Map<number, number>([
    [0, 0],
    [1, 160],
  ]);
  let next = MIN_XSTATE_SIZE;
  for (const i of bitsOf(mask)) {
    if (i < 2) continue;
    const r = raw.get(i);
    if (!r) continue;
    if (r.ecx & 2) next = (next + 63) & ~63;
    out.set(i, next);
    next += r.size;
  }
  return out;
}

/** Standard-format size of any feature mask on this layout (xstate_calculate_size(mask, false)). */
export function standardSize(layout: XsaveLayout, mask: bigint): number {
  if (!layout.xsave) return FXSAVE_SIZE;
  let end = MIN_XSTATE_SIZE;
  for (const c of layout.components) {
    if (c.bit >= 2 && !c.supervisor && hasBit(mask, c.bit) && c.size > 0)
      end = Math.max(end, c.offset + c.size);
  }
  return end;
}

/** Offsets of every component of `xcompBv` in the compacted form (XCOMP_BV bit 63 aside). */
export function compactedLayout(layout: XsaveLayout, xcompBv: bigint): Map<number, number> {
  const raw = new Map<number, { size: number; ecx: number }>();
  for (const c of layout.components) raw.set(c.bit, { size: c.size, ecx: c.align64 ? 2 : 0 });
  return compactedOffsets(raw, xcompBv & ~(1n << 63n));
}

export function componentOf(layout: XsaveLayout, bitNo: number): XComponent | undefined {
  return layout.components.find((c) => c.bit === bitNo);
}

/** The user components saved in frames (enabled), ascending. */
export function enabledComponents(layout: XsaveLayout): XComponent[] {
  return layout.components.filter((c) => c.enabled);
}
