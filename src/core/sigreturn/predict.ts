/**
 * What rt_sigreturn does with the FPU part of a 64-bit signal frame, component by component,
 * under each of the three kernel policies. Modelled on arch/x86/kernel/fpu/signal.c:
 * fpu__restore_sig() → __fpu_restore_sig() → check_xstate_in_sigframe() (check_for_xstate()
 * before v5.14) → restore_fpregs_from_user() → XRSTOR / FXRSTOR (Intel SDM vol. 1 §13.8).
 */
import { bitsOf, hasBit, hex } from "../hex.ts";
import { ASSUMED_MXCSR_MASK, effectiveMxcsrMask, MXCSR_MASK_FXSAVE_ZERO } from "../mxcsr.ts";
import { MASK_FPSSE, XFEATURE, XSAVE_HDR_OFFSET, XSAVE_HDR_SIZE } from "../xsave/components.ts";
import { compactedLayout, enabledComponents, type XComponent, type XsaveLayout } from "../xsave/layout.ts";
import { pkruKey0, pkruKey0Words, SEGV_PKUERR } from "../xsave/pkru.ts";
import { IA32_FSAVE_SIZE, predictIa32 } from "./ia32.ts";
import { REASONS, type ReasonCode } from "./reasons.ts";
import {
  allInit,
  checkXstate,
  make,
  names,
  SI_KERNEL,
  type SwBytesSeen,
  sentence,
  UserMemory,
} from "./shared.ts";
import type { ComponentOutcome, PredictInput, Prediction } from "./types.ts";

/** 64-byte aligned user stack address used when the caller gives none. */
export const DEFAULT_FPSTATE_ADDRESS = 0x7ffffffde000n;
/** MXCSR_MASK when FXSAVE reports 0 (Intel SDM vol. 1 §11.6.6; kernel mxcsr_feature_mask default). */
export const DEFAULT_MXCSR_MASK = MXCSR_MASK_FXSAVE_ZERO;
/** The receiving CPU's MXCSR_MASK when the input gives none: an x86-64 CPU with DAZ (0xffff). */
export const ASSUMED_RECEIVING_MXCSR_MASK = ASSUMED_MXCSR_MASK.value;
const FXSAVE_LEGACY = 512;
const XCOMP_COMPACTED = 1n << 63n;

interface Ctx {
  input: PredictInput;
  task: XsaveLayout;
  comps: XComponent[];
  mem: UserMemory;
  addr: bigint;
  mxcsrMask: number;
  notes: string[];
}

function fault(ctx: Ctx, reason: ReasonCode, detail: string): Prediction {
  return make(
    ctx.input.policy,
    "fault",
    reason,
    `${detail}; the kernel resets the FPU to init and sends SIGSEGV (signal_fault(), "bad frame in rt_sigreturn").`,
    allInit(ctx.comps),
    "init",
    ctx.notes,
  );
}

/** FXRSTOR of the 512-byte legacy region; every other task component is forced to init. */
function fxrstor(ctx: Ctx, reason: ReasonCode, why: string): Prediction {
  if (ctx.addr % 16n !== 0n) {
    return fault(
      ctx,
      "fxrstor-gp-alignment",
      `${why}; FXRSTOR then raises #GP because the fpstate at ${hex(ctx.addr)} is not 16-byte aligned`,
    );
  }
  if (!ctx.mem.canRead(0, FXSAVE_LEGACY)) {
    return fault(
      ctx,
      "fxrstor-fault",
      `${why}; FXRSTOR then reads 512 bytes but only ${ctx.mem.readable} are mapped`,
    );
  }
  const mxcsr = ctx.mem.u32(24);
  if ((mxcsr & ~ctx.mxcsrMask) >>> 0 !== 0) {
    return fault(
      ctx,
      "fxrstor-gp-mxcsr",
      `${why}; FXRSTOR then raises #GP because MXCSR ${hex(mxcsr)} sets bits outside MXCSR_MASK ${hex(ctx.mxcsrMask)}`,
    );
  }
  const comps: ComponentOutcome[] = ctx.comps.map((c) =>
    c.bit === XFEATURE.FP
      ? { bit: c.bit, name: c.name, result: "frame", offset: 0 }
      : c.bit === XFEATURE.SSE
        ? { bit: c.bit, name: c.name, result: "frame", offset: 160 }
        : { bit: c.bit, name: c.name, result: "init" },
  );
  const lost = ctx.task.userFeatures & ~MASK_FPSSE;
  const tail = lost
    ? `FXRSTOR restores x87, SSE and MXCSR from the frame and ${names(ctx.task, lost)} ${bitsOf(lost).length > 1 ? "are" : "is"} set to init`
    : "FXRSTOR restores x87, SSE and MXCSR from the frame";
  return make(ctx.input.policy, "fxrstor-fallback", reason, `${why}: ${tail}.`, comps, "frame", ctx.notes);
}

/** XRSTOR of the frame with RFBM = sw.xfeatures ∩ the task's user features. */
function xrstor(ctx: Ctx, sw: SwBytesSeen): Prediction {
  const { task, mem } = ctx;
  const rfbm = sw.xfeatures & task.userFeatures;
  if (ctx.addr % 64n !== 0n) {
    return fault(
      ctx,
      "xrstor-gp-alignment",
      `the frame passes the checks, but XRSTOR raises #GP because the fpstate at ${hex(ctx.addr)} is not 64-byte aligned`,
    );
  }
  if (!mem.canRead(XSAVE_HDR_OFFSET, XSAVE_HDR_SIZE)) {
    return fault(
      ctx,
      "xrstor-fault",
      `XRSTOR reads the XSAVE header at 512..575 but only ${mem.readable} bytes are mapped`,
    );
  }
  const xstateBv = mem.u64(XSAVE_HDR_OFFSET);
  const xcompBv = mem.u64(XSAVE_HDR_OFFSET + 8);
  const outsideXcr0 = xstateBv & ~task.xcr0;
  if (outsideXcr0) {
    return fault(
      ctx,
      "xrstor-gp-xstate-bv",
      `XRSTOR raises #GP because XSTATE_BV ${hex(xstateBv)} sets bit${bitsOf(outsideXcr0).length > 1 ? "s" : ""} ${bitsOf(outsideXcr0).join(", ")} outside XCR0 ${hex(task.xcr0)}`,
    );
  }
  const compacted = (xcompBv & XCOMP_COMPACTED) !== 0n;
  const offsets = new Map<number, number>();
  let restored: bigint; // TO_BE_RESTORED of the SDM pseudocode
  let mxcsrLoaded: boolean;
  if (!compacted) {
    if (xcompBv !== 0n) {
      return fault(
        ctx,
        "xrstor-gp-xcomp-bv",
        `XRSTOR raises #GP because XCOMP_BV is ${hex(xcompBv)}: the standard form needs header bytes 8..15 to be zero`,
      );
    }
    const r16 = mem.u64(XSAVE_HDR_OFFSET + 16);
    if (r16 !== 0n) {
      return fault(
        ctx,
        "xrstor-gp-header-reserved",
        `XRSTOR raises #GP because XSAVE header bytes 16..23 are ${hex(r16)}, not zero`,
      );
    }
    for (const c of ctx.comps) offsets.set(c.bit, c.offset);
    restored = rfbm & xstateBv;
    // Standard form: MXCSR is loaded when RFBM has SSE or YMM, whatever XSTATE_BV says.
    mxcsrLoaded = hasBit(rfbm, XFEATURE.SSE) || hasBit(rfbm, XFEATURE.YMM);
  } else {
    if (ctx.input.compactedForm === false) {
      return fault(
        ctx,
        "xrstor-gp-xcomp-bv",
        `XCOMP_BV ${hex(xcompBv)} asks for the compacted form, which this CPU does not support (no XSAVEC): XRSTOR faults`,
      );
    }
    const format = xcompBv & ~XCOMP_COMPACTED;
    if (format & ~task.xcr0) {
      return fault(
        ctx,
        "xrstor-gp-xcomp-bv",
        `XRSTOR raises #GP because XCOMP_BV ${hex(xcompBv)} names components outside XCR0 ${hex(task.xcr0)}`,
      );
    }
    if (xstateBv & ~format) {
      return fault(
        ctx,
        "xrstor-gp-xstate-bv",
        `XRSTOR raises #GP because XSTATE_BV ${hex(xstateBv)} sets bits that XCOMP_BV ${hex(xcompBv)} lacks`,
      );
    }
    for (let o = 16; o < 64; o += 8) {
      const v = mem.u64(XSAVE_HDR_OFFSET + o);
      if (v !== 0n) {
        return fault(
          ctx,
          "xrstor-gp-header-reserved",
          `XRSTOR raises #GP because compacted-form header bytes ${o}..${o + 7} are ${hex(v)}, not zero`,
        );
      }
    }
    const comp = compactedLayout(task, format);
    for (const c of ctx.comps) {
      const off = comp.get(c.bit);
      if (off !== undefined) offsets.set(c.bit, off);
    }
    restored = rfbm & format & xstateBv;
    mxcsrLoaded = hasBit(restored, XFEATURE.SSE);
  }

  if (mxcsrLoaded) {
    const mxcsr = mem.u32(24);
    if ((mxcsr & ~ctx.mxcsrMask) >>> 0 !== 0) {
      return fault(
        ctx,
        "xrstor-gp-mxcsr",
        `XRSTOR loads MXCSR (RFBM has SSE or YMM) and raises #GP because ${hex(mxcsr)} sets bits outside MXCSR_MASK ${hex(ctx.mxcsrMask)}`,
      );
    }
  }

  // Memory XRSTOR touches: the header, plus every component it loads.
  for (const c of ctx.comps) {
    if (!hasBit(restored, c.bit)) continue;
    const off = offsets.get(c.bit) ?? c.offset;
    if (!mem.canRead(off, c.size)) {
      const u = task.userSize;
      const beyond = off + c.size > sw.xstateSize && sw.xstateSize <= u;
      if (beyond && ctx.input.policy !== "legacy") {
        ctx.notes.push(
          `kernels before v6.8 fault in only sw.xstate_size (${sw.xstateSize}) bytes after the #PF and retry XRSTOR forever (CVE-2024-26603, fixed by d877550eaf2d)`,
        );
      }
      return fault(
        ctx,
        "xrstor-fault",
        `XRSTOR loads ${c.name} from ${off}..${off + c.size - 1} but only ${mem.readable} bytes are mapped, and faulting in user_size (${u}) bytes fails`,
      );
    }
  }

  const components: ComponentOutcome[] = [];
  const fromFrame: string[] = [];
  const notInXfeatures: string[] = [];
  const bvClear: string[] = [];
  for (const c of ctx.comps) {
    if (hasBit(restored, c.bit)) {
      const off = offsets.get(c.bit) ?? c.offset;
      components.push({ bit: c.bit, name: c.name, result: "frame", offset: off });
      fromFrame.push(c.name);
      if (off + c.size > sw.xstateSize && ctx.input.policy !== "refined") {
        ctx.notes.push(
          `XRSTOR reads ${c.name} at ${off}..${off + c.size - 1}, past sw.xstate_size ${sw.xstateSize}: xstate_size only places magic2, it does not limit what is restored`,
        );
        if (sw.xstateSize >= off && sw.xstateSize < off + c.size) {
          ctx.notes.push(`the magic2 word at ${sw.xstateSize} is loaded as part of ${c.name}`);
        }
      }
    } else {
      components.push({ bit: c.bit, name: c.name, result: "init" });
      if (!hasBit(rfbm, c.bit)) notInXfeatures.push(c.name);
      else bvClear.push(c.name);
    }
  }
  const mxcsr: "frame" | "init" =
    hasBit(rfbm, XFEATURE.SSE) && (!compacted || mxcsrLoaded) ? "frame" : "init";

  let reason: ReasonCode;
  const parts: string[] = [];
  const head = compacted
    ? `XCOMP_BV ${hex(xcompBv)} selects the compacted form, which the 64-bit path does not check, and XRSTOR (RFBM ${hex(rfbm)})`
    : `the frame passes the ${ctx.input.policy} checks and XRSTOR (RFBM = sw.xfeatures ${hex(sw.xfeatures)} ∩ task ${hex(task.userFeatures)} = ${hex(rfbm)})`;
  parts.push(`${head} loads ${fromFrame.length ? fromFrame.join(", ") : "nothing"} from the frame`);
  if (notInXfeatures.length)
    parts.push(
      `${notInXfeatures.join(", ")} ${notInXfeatures.length > 1 ? "are" : "is"} not in sw.xfeatures and set to init`,
    );
  if (bvClear.length)
    parts.push(
      `${bvClear.join(", ")} ${bvClear.length > 1 ? "have" : "has"} XSTATE_BV clear and ${bvClear.length > 1 ? "are" : "is"} set to init`,
    );
  if (compacted) reason = "xrstor-compacted";
  else if (notInXfeatures.length) reason = "xfeatures-partial";
  else if (bvClear.length) reason = "xstate-bv-init";
  else reason = "xrstor-full";
  if (mxcsr === "init" && ctx.comps.some((c) => c.bit === XFEATURE.SSE)) parts.push("MXCSR is set to init");
  if (ctx.input.policy !== "legacy" && mem.readable < task.userSize) {
    ctx.notes.push(
      `only ${mem.readable} of user_size ${task.userSize} bytes are mapped: should XRSTOR take a page fault (a page not yet present), the kernel faults in user_size bytes (d877550eaf2d, v6.8), fails and sends SIGSEGV`,
    );
  }
  return make(ctx.input.policy, "xrstor", reason, sentence(parts.join("; ")), components, mxcsr, ctx.notes);
}

/** What sigreturn does with `input.fpstate` on the receiving task under `input.policy`. */
export function predict(input: PredictInput): Prediction {
  const p = predictInner(input);
  pkruAfterRestore(input, p);
  p.lost = lostState(input, p);
  return p;
}

/**
 * A restore that loads PKRU from the frame with protection key 0 access- or write-disabled: the
 * state comes back, and the task dies at its next access to ordinary memory (SEGV_PKUERR).
 */
function pkruAfterRestore(input: PredictInput, p: Prediction): void {
  if (p.signal !== null || input.fpstate === null) return;
  const c = p.components.find((x) => x.bit === XFEATURE.PKRU);
  if (c?.result !== "frame" || c.offset === undefined) return;
  const pkru = new UserMemory(input.fpstate, input.fpstate.length).u32(c.offset);
  const lock = pkruKey0(pkru);
  if (!lock) return;
  p.signal = "SIGSEGV";
  p.pkru = pkru;
  p.reason = "pkru-locks-key0";
  p.source = REASONS["pkru-locks-key0"].source;
  const restored = p.detail.replace(/\.$/, "");
  // Before v6.12 (d10b554919d4) restore_altstack() ran after the FPU restore: its read of
  // uc_stack is the first access with the new PKRU. Every legacy kernel is older than that.
  if (input.policy === "legacy" && lock === "access") {
    p.siCode = SI_KERNEL;
    p.detail = `${restored}; but PKRU ${hex(pkru)} sets access-disable for protection key 0, the key of all ordinary memory, and restore_altstack() then reads uc_stack with it: rt_sigreturn fails with SIGSEGV (si_code SI_KERNEL, "bad frame in rt_sigreturn").`;
    return;
  }
  p.siCode = SEGV_PKUERR;
  p.detail = `${restored}; but ${pkruKey0Words(pkru)}, si_pkey 0. The task is killed unless it handles SIGSEGV, and a handler's own sigreturn loads the same PKRU again.`;
  if (input.policy === "classic" && lock === "access")
    p.notes.push(
      "kernels before v6.12 (d10b554919d4) fail the sigreturn itself instead: restore_altstack() reads uc_stack after the PKRU load (SIGSEGV, si_code SI_KERNEL); Linux 7.3 (measured under QEMU) dies of a kernel read of user memory on the way back to user mode (SI_KERNEL) before the task's own first access",
    );
}

/**
 * State the frame carried that does not come back: x87 and SSE always count as carried, every
 * other component only when its XSTATE_BV bit is set (a clear bit means init: nothing to lose).
 * Under SIGSEGV everything carried is lost; otherwise what ends up init.
 */
function lostState(input: PredictInput, p: Prediction): string[] {
  if (input.fpstate === null) return [];
  // The frame's own bytes say what it carried, mapped or not.
  const mem = new UserMemory(input.fpstate, input.fpstate.length);
  const hdr = (input.ia32 ? IA32_FSAVE_SIZE : 0) + XSAVE_HDR_OFFSET;
  const bv = input.task.xsave && mem.canRead(hdr, 8) ? mem.u64(hdr) : MASK_FPSSE;
  const carried = bv | MASK_FPSSE;
  return p.components
    .filter((c) => hasBit(carried, c.bit) && (p.signal !== null || c.result === "init"))
    .map((c) => c.name);
}

function predictInner(input: PredictInput): Prediction {
  const task = input.task;
  const comps = enabledComponents(task);
  const notes: string[] = [];
  if (input.fpstate === null) {
    const p = make(
      input.policy,
      "init",
      "null-fpstate",
      "uc_mcontext.fpstate is NULL, so fpu__restore_sig() resets every user FPU register to init (PKRU to the kernel default 0x55555554) and sigreturn succeeds.",
      allInit(comps),
      "init",
      notes,
    );
    if (input.ia32) p.frame = "ia32";
    return p;
  }
  const mxcsrMask =
    input.mxcsrMask === undefined ? ASSUMED_RECEIVING_MXCSR_MASK : effectiveMxcsrMask(input.mxcsrMask);
  if (input.ia32) {
    const p = predictIa32(input, comps, mxcsrMask, notes);
    p.frame = "ia32";
    return p;
  }
  const ctx: Ctx = {
    input,
    task,
    comps,
    mem: new UserMemory(input.fpstate, input.readableBytes ?? input.fpstate.length),
    addr: input.address ?? DEFAULT_FPSTATE_ADDRESS,
    mxcsrMask,
    notes,
  };
  if (!task.xsave) {
    return fxrstor(ctx, "no-xsave", "the CPU does not use XSAVE, so the software bytes are ignored");
  }
  const chk = checkXstate(input.policy, ctx.mem, task);
  if (chk.kind === "fatal") return fault(ctx, chk.reason, chk.detail);
  if (chk.kind === "fx-only") return fxrstor(ctx, chk.reason, chk.detail);
  if (input.policy === "legacy" && ctx.addr % 64n !== 0n) {
    // copy_user_to_fpregs_zeroing(): if (buf % 64 || fx_only) → FXRSTOR.
    return fxrstor(
      ctx,
      "fpstate-misaligned",
      `the fpstate at ${hex(ctx.addr)} is not 64-byte aligned, so the pre-5.14 kernel restores it with FXRSTOR`,
    );
  }
  return xrstor(ctx, chk.sw);
}

/** True when a prediction loses state the frame carried or kills the task (`--fail-on-loss`). */
export function losesState(p: Prediction): boolean {
  return p.signal !== null || p.lost.length > 0;
}
