/**
 * AMX tile state of a task, as Linux manages it (v5.16+): permission per process, XFD, and the
 * per-task user_size.
 *
 * - Without permission, XFD arms XTILEDATA (CPUID(0xD,18).ECX[2]): the first instruction that
 *   touches tile data raises #NM, handle_xfd_event() finds no permission and sends SIGILL
 *   (ILL_ILLOPC). XTILECFG is not XFD-armed and is part of every task's user_xfeatures: LDTILECFG
 *   runs, and frames carry XTILECFG when it is in use. (arch/x86/kernel/traps.c
 *   handle_xfd_event(); arch/x86/kernel/fpu/xstate.c xfd_enable_feature())
 * - arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) grants the permission to the process
 *   (__xstate_request_perm(); -ENOSPC when a thread's sigaltstack is smaller than the frame would
 *   be, validate_sigaltstack()). It does not change user_size.
 * - The first tile-data instruction after that traps once more; xfd_enable_feature() reallocates
 *   the task's fpstate (fpstate_realloc()): user_size becomes the size with XTILEDATA (11008 on
 *   Sapphire Rapids), user_xfeatures gains bit 18, XFD is disarmed. It never shrinks back.
 * - On delivery, xsave_to_user_sigframe() skips XTILECFG/XTILEDATA while they are in init state
 *   (XFEATURE_MASK_SIGFRAME_INITOPT): xstate_bv then lacks them, the frame keeps its size.
 * - On sigreturn, RFBM is sw.xfeatures ∩ the task's user_xfeatures: a task that has not used
 *   AMX never loads tile data from a frame, whatever xstate_bv says.
 */
import { bit, hasBit } from "../hex.ts";
import { MASK_FPSSE, XFEATURE } from "./components.ts";
import { componentOf, type XsaveLayout } from "./layout.ts";

/** Where a task stands with AMX tile data. */
export type AmxTaskState = "no-permission" | "permitted" | "in-use";

export const MASK_XTILE = bit(XFEATURE.XTILECFG) | bit(XFEATURE.XTILEDATA);

/** The host can give a task tile data: XTILEDATA in XCR0 (AMX-TILE, XFD and a v5.16+ kernel). */
export function amxAvailable(host: XsaveLayout): boolean {
  return host.xsave && hasBit(host.xcr0, XFEATURE.XTILEDATA);
}

/** Why a host cannot give a task tile data, or undefined when it can. */
export function amxUnavailableReason(host: XsaveLayout): string | undefined {
  if (amxAvailable(host)) return undefined;
  const c = componentOf(host, XFEATURE.XTILEDATA);
  if (!c?.supported) return "the CPU has no AMX tile data (CPUID(0xD,0) lacks bit 18)";
  return `Linux does not enable AMX tile data here (${c.reason ?? "XCR0 bit 18 clear"})`;
}

/**
 * The frame the kernel delivers to a task with layout `task` whose in-use components (XINUSE)
 * are `inUse`: xstate_size is the task's user_size, sw.xfeatures its user_xfeatures, xstate_bv
 * the in-use components it has, x87 and SSE always (save_xstate_epilog(), "for legacy
 * compatible"). (arch/x86/kernel/fpu/signal.c save_sw_bytes(); xstate.h xsave_to_user_sigframe())
 */
export function deliveredFrame(
  task: XsaveLayout,
  inUse: bigint,
): { xstateSize: number; extendedSize: number; xfeatures: bigint; xstateBv: bigint } {
  return {
    xstateSize: task.frame.xstateSize,
    extendedSize: task.frame.extendedSize,
    xfeatures: task.userFeatures,
    xstateBv: (inUse & task.userFeatures) | MASK_FPSSE,
  };
}

/** What the first instruction that touches tile data does in a task in `state`. */
export function tileDataInstruction(
  state: AmxTaskState,
): { signal: "SIGILL"; siCode: 1; why: string } | { signal: null; why: string } {
  if (state === "no-permission")
    return {
      signal: "SIGILL",
      siCode: 1,
      why: "XFD arms XTILEDATA: the instruction raises #NM, handle_xfd_event() finds no ARCH_REQ_XCOMP_PERM permission and sends SIGILL (ILL_ILLOPC)",
    };
  if (state === "permitted")
    return {
      signal: null,
      why: "the #NM is handled: xfd_enable_feature() reallocates the fpstate with tile data (user_size grows) and disarms XFD",
    };
  return { signal: null, why: "tile data is enabled for the task: no trap" };
}

/** `--uses` names tile data: the process must have used AMX (permission and first use). */
export function usesTileData(uses: bigint | undefined): boolean {
  return uses !== undefined && hasBit(uses, XFEATURE.XTILEDATA);
}
