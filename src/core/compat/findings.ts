/**
 * Findings of a migration check: a discriminated union on `code` (one variant per kind of
 * problem, each with its typed facts), plus the catalogue that gives every code its default
 * severity, a title and what to do. `docs/findings.md` documents the same codes for users.
 */

import { hasBit } from "../hex.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import type { Policy } from "../sigreturn/types.ts";
import type { XsaveLayout } from "../xsave/layout.ts";

export type Severity = "error" | "warning" | "info";

/**
 * Which frames a finding is about:
 * - `kernel`: a frame the kernel on A wrote (a thread inside a signal handler at checkpoint time);
 * - `kernel-altstack`: the same frame at the top of a sigaltstack (nothing readable past it);
 * - `criu`: the frame CRIU's restorer builds on B (components relocated, xstate_size trimmed);
 * - `amx-restorer`: a restorer that requests AMX permission again on B and carries tile state;
 * - `raw-copy`: a restorer that copies A's XSAVE bytes unchanged (gVisor);
 * - `checkpoint`: a frame found in a checkpoint or core (given by the caller);
 * - `mxcsr`: a kernel frame from A whose MXCSR uses a bit only A accepts.
 */
export type FrameStyle =
  | "kernel"
  | "kernel-altstack"
  | "criu"
  | "amx-restorer"
  | "raw-copy"
  | "checkpoint"
  | "core"
  | "mxcsr";

/** One host's side of a finding: the values that differ. */
export interface HostSide {
  offset?: number;
  size?: number;
  userSize?: number;
  present?: boolean;
  mxcsrMask?: number;
}

interface Base {
  severity: Severity;
  /** One sentence: what happens. */
  message: string;
  /** What to do about it. */
  hint?: string;
  /** Component name (kernel spelling) where the finding is about one. */
  component?: string;
  bit?: number;
  /** Policies (kernel behaviours) under which it happens, where it depends on them. */
  policies?: Policy[];
  /** The frames it happens to (ids of the evaluated frame cases). */
  frames?: string[];
  style?: FrameStyle;
  from?: HostSide;
  to?: HostSide;
  /** The sigreturn model's stable reason code, where a frame outcome is behind the finding. */
  reason?: string;
}

export type Finding =
  | (Base & { code: "xstate_size_larger" })
  | (Base & { code: "xstate_size_smaller" })
  | (Base & { code: "fx_only_fallback" })
  | (Base & { code: "sigreturn_fault" })
  | (Base & { code: "xstate_bv_unsupported"; bits: number[] })
  | (Base & { code: "component_misplaced" })
  | (Base & { code: "component_outside_frame"; frameEnd: number })
  | (Base & { code: "component_dropped" })
  | (Base & { code: "component_reset" })
  | (Base & { code: "component_unused_missing" })
  | (Base & { code: "raw_copy_refused"; bits: number[] })
  | (Base & { code: "criu_not_saved" })
  | (Base & { code: "pkru_init" })
  | (Base & { code: "amx_permission" })
  | (Base & { code: "pkru_key0_locked" })
  | (Base & { code: "sigaltstack_too_small" })
  | (Base & { code: "amx_unavailable" })
  | (Base & { code: "mxcsr_rejected" })
  | (Base & { code: "mxcsr_mask_estimated" })
  | (Base & { code: "glibc_xsave_size" })
  | (Base & { code: "source_contradicted" })
  | (Base & { code: "frame_layout_mismatch" });

export type FindingCode = Finding["code"];

export interface CodeInfo {
  severity: Severity;
  title: string;
  hint: string;
}

/** Default severity, a title and the hint of every code. The severity of a finding can be
 * lowered to `warning` when it happens under some kernel policies only. */
export const FINDING_CODES: Record<FindingCode, CodeInfo> = {
  xstate_size_larger: {
    severity: "error",
    title: "frame larger than the destination's user_size: FX-only",
    hint: "restore on a host whose user_size is at least the source's, or let the restorer rebuild the frame for the destination (CRIU does for thread state, not for frames on the stack)",
  },
  xstate_size_smaller: {
    severity: "error",
    title: "frame smaller than the destination's user_size: FX-only under the refined check",
    hint: "run a kernel with the revert 44eeff9bc467 (v7.1-rc6+, or a stable tree that carries it), or avoid kernels v6.15 … v7.1-rc5 on the destination",
  },
  fx_only_fallback: {
    severity: "error",
    title: "sigreturn falls back to FX-only: extended state reset to init",
    hint: "the frame fails the kernel's sigreturn check; see the reason code",
  },
  sigreturn_fault: {
    severity: "error",
    title: "sigreturn kills the process (SIGSEGV)",
    hint: "see the reason code; the frame cannot be restored as it is",
  },
  xstate_bv_unsupported: {
    severity: "error",
    title: "xstate_bv names a component outside the destination's XCR0: #GP, SIGSEGV",
    hint: "restore on a host with the component, or have the restorer clear the bit (the state is lost either way)",
  },
  component_misplaced: {
    severity: "error",
    title: "component restored from the wrong offset (standard-format offsets differ)",
    hint: "do not move frames between these hosts as raw bytes; relocate per component (CRIU does for thread state) or use a fleet baseline without the component (sigframe baseline)",
  },
  component_outside_frame: {
    severity: "error",
    title: "component read from beyond the frame the source wrote (garbage, or a fault)",
    hint: "the destination places the component past the source's xstate_size; relocate per component, or exclude it from the fleet baseline",
  },
  component_dropped: {
    severity: "error",
    title: "state of a component the destination lacks is lost",
    hint: "restore on a host that has the component, or keep the process off it (mask it on every host: sigframe baseline)",
  },
  component_reset: {
    severity: "error",
    title: "component reset to its init value",
    hint: "the frame does not ask the destination to load the component; see the reason code",
  },
  component_unused_missing: {
    severity: "info",
    title: "the destination lacks a component the source enables but processes do not use",
    hint: "nothing to do unless the process uses it; pass --uses to check that case",
  },
  raw_copy_refused: {
    severity: "error",
    title: "a raw-copy restorer (gVisor) refuses the state: xstate_bv bits the destination lacks",
    hint: "restore on a host with these components, or level the fleet (sigframe baseline)",
  },
  criu_not_saved: {
    severity: "error",
    title: "CRIU does not save this component",
    hint: "CRIU's image has no field for it; its state is lost on any restore",
  },
  pkru_init: {
    severity: "info",
    title: "PKRU starts at 0 on the destination (every protection key open)",
    hint: "harmless for a process that never used protection keys (the source has none)",
  },
  pkru_key0_locked: {
    severity: "error",
    title: "the frame's PKRU locks protection key 0: the task dies right after sigreturn",
    hint: "a PKRU with bit 0 or 1 set denies the task its own stack and heap (key 0): clear bits 0-1 of the PKRU in the frame (Linux's default is 0x55555554), or find who wrote it",
  },
  amx_permission: {
    severity: "info",
    title: "AMX permission is per process and is not restored",
    hint: "the process must call arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) again on the destination before it uses AMX",
  },
  amx_unavailable: {
    severity: "warning",
    title: "the destination has no AMX tile state",
    hint: "a process that used AMX on the source loses its tile state; check with --uses including bit 18",
  },
  mxcsr_rejected: {
    severity: "warning",
    title: "an MXCSR value valid on the source is rejected on the destination",
    hint: "the destination's MXCSR_MASK lacks a bit (DAZ, bit 6) the source accepts: a process that set it gets SIGSEGV on sigreturn",
  },
  mxcsr_mask_estimated: {
    severity: "info",
    title: "MXCSR_MASK of one host is estimated from CPUID, not measured",
    hint: "x86-64 CPUs report 0xffff (DAZ), AMD CPUs with MisAlignSse 0x2ffff; capture the host with 'sigframe host' to measure it",
  },
  source_contradicted: {
    severity: "warning",
    title: "the source host given contradicts the frames on the stacks",
    hint: "drop --from to use the CPU the checkpoint or core records, or name the CPU the process ran on: a kernel-written frame states its writer's xstate_size and xfeatures",
  },
  frame_layout_mismatch: {
    severity: "info",
    title: "a frame on the stacks was written with another XSAVE layout than the source's",
    hint: "a frame written on another host (a process migrated while inside its handler) is read with the layout that gives its size; where no published layout does, pass --from with the CPU that wrote it",
  },
  sigaltstack_too_small: {
    severity: "warning",
    title: "a sigaltstack sized on the source cannot hold the destination's signal frame",
    hint: "size alternate stacks for the largest AT_MINSIGSTKSZ of the fleet (sigframe layout --amx shows it), not from sysconf() in the restored process (glibc reads AT_MINSIGSTKSZ once, at start-up: after the restore sysconf(_SC_SIGSTKSZ) still answers the source's size), or restore on a host whose frames are no larger",
  },
  glibc_xsave_size: {
    severity: "warning",
    title:
      "glibc's lazy-binding XSAVE area, sized on the source, is smaller than what XSAVE writes on the destination",
    hint: "only calls bound lazily after the restore run the trampoline: start the process with LD_BIND_NOW=1, or link with -z now (-Wl,-z,now), before it is checkpointed; GLIBC_TUNABLES=glibc.cpu.hwcaps=-XSAVEC,-XSAVE (the 512-byte FXSAVE trampoline) helps only where glibc is not built for x86-64-v3 or higher",
  },
};

/** Severity order: error > warning > info. */
export function severityRank(s: Severity): number {
  return s === "error" ? 2 : s === "warning" ? 1 : 0;
}

/** The facts of one finding variant: everything but its code; severity defaults to the code's. */
export type FindingFacts<F extends Finding = Finding> = F extends Finding
  ? Omit<F, "code" | "severity" | "hint"> & { severity?: Severity }
  : never;

/** A finding of `code` from its facts, with the catalogue's severity (unless given) and hint. */
export function finding<C extends FindingCode>(
  code: C,
  facts: FindingFacts<Extract<Finding, { code: C }>>,
): Extract<Finding, { code: C }> {
  const info = FINDING_CODES[code];
  const { severity, message, ...rest } = facts as FindingFacts;
  return { code, severity: severity ?? info.severity, message, hint: info.hint, ...rest } as Extract<
    Finding,
    { code: C }
  >;
}

/** One host's side of a finding about component `b` (or about the frame size when absent). */
export function hostSide(l: XsaveLayout, b?: number): HostSide {
  if (b === undefined) return { userSize: l.userSize };
  const c = standardPlacement(l, b);
  const present = b < 2 || hasBit(l.userFeatures, b);
  return c && present ? { offset: c.offset, size: c.size, present } : { present: false };
}
