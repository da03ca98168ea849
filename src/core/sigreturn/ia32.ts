/**
 * What sigreturn does with the FPU area of a 32-bit (ia32) task's frame on an FXSR CPU. Modelled
 * on arch/x86/kernel/fpu/signal.c fpu__restore_sig(buf, ia32_frame = true): buf_fx = buf + 112;
 * __fpu_restore_sig() runs the policy's check_xstate_in_sigframe() on buf_fx, copies the 112-byte
 * FSAVE header, then either copy_sigframe_from_user_to_xstate() → copy_uabi_to_xstate()
 * (arch/x86/kernel/fpu/xstate.c, header validated by validate_user_xstate_header()) or, FX-only,
 * the 512-byte image (MXCSR reserved bits rejected on x86-64); convert_to_fxsr() folds the x87
 * state of the FSAVE header in, the components outside sw.xfeatures are dropped from the kernel
 * buffer's header and os_xrstor_safe() loads the kernel buffer. Unlike the 64-bit path, XRSTOR
 * never runs on the user's bytes: no alignment rule, and the header rules are the kernel's.
 */
import { bitsOf, hasBit, hex } from "../hex.ts";
import { MASK_FPSSE, XFEATURE, XSAVE_HDR_OFFSET, XSAVE_HDR_SIZE } from "../xsave/components.ts";
import type { XComponent, XsaveLayout } from "../xsave/layout.ts";
import type { ReasonCode } from "./reasons.ts";
import { allInit, checkXstate, make, names, type SwBytesSeen, sentence, UserMemory } from "./shared.ts";
import type { ComponentOutcome, PredictInput, Prediction } from "./types.ts";

/** sizeof(struct fregs_state): the FSAVE header before buf_fx. */
export const IA32_FSAVE_SIZE = 112;
const FXSAVE_SIZE = 512;
const MASK_MXCSR_USERS =
  (1n << BigInt(XFEATURE.FP)) | (1n << BigInt(XFEATURE.SSE)) | (1n << BigInt(XFEATURE.YMM));

interface Ia32Ctx {
  input: PredictInput;
  task: XsaveLayout;
  comps: XComponent[];
  /** From the FSAVE header (buf) on. */
  mem: UserMemory;
  /** From buf_fx = buf + 112 on. */
  fx: UserMemory;
  mxcsrMask: number;
  notes: string[];
}

function fault(ctx: Ia32Ctx, reason: ReasonCode, detail: string): Prediction {
  return make(
    ctx.input.policy,
    "fault",
    reason,
    `${detail}; the kernel resets the FPU to init and sends SIGSEGV (signal_fault(), bad frame in the 32-bit rt_sigreturn).`,
    allInit(ctx.comps),
    "init",
    ctx.notes,
  );
}

/** Where component `c` is read from, as an offset from the FSAVE header (the input's start). */
function frameOffset(c: XComponent): number {
  // x87 comes from the FSAVE header (convert_to_fxsr()), everything else from the image.
  return c.bit === XFEATURE.FP ? 0 : IA32_FSAVE_SIZE + c.offset;
}

function plural(n: number, one: string, many: string): string {
  return n > 1 ? many : one;
}

/** The FX-only copy: 512 bytes of the image, x87 from the FSAVE header, the rest init. */
function fxOnly(ctx: Ia32Ctx, reason: ReasonCode, why: string): Prediction {
  if (!ctx.fx.canRead(0, FXSAVE_SIZE)) {
    return fault(
      ctx,
      "ia32-copy-fault",
      `${why}; copying the 512-byte image at fpstate + 112 faults: only ${ctx.mem.readable} bytes are mapped from the fpstate`,
    );
  }
  const mxcsr = ctx.fx.u32(24);
  if ((mxcsr & ~ctx.mxcsrMask) >>> 0 !== 0) {
    return fault(
      ctx,
      "ia32-mxcsr",
      `${why}; the image's MXCSR ${hex(mxcsr)} sets bits outside MXCSR_MASK ${hex(ctx.mxcsrMask)}, which a 64-bit kernel rejects on the ia32 FX-only path`,
    );
  }
  const comps: ComponentOutcome[] = ctx.comps.map((c) =>
    c.bit === XFEATURE.FP || c.bit === XFEATURE.SSE
      ? { bit: c.bit, name: c.name, result: "frame", offset: frameOffset(c) }
      : { bit: c.bit, name: c.name, result: "init" },
  );
  const lost = ctx.task.userFeatures & ~MASK_FPSSE;
  const tail =
    "the ia32 path copies the 512-byte image at fpstate + 112: x87 comes from the FSAVE header, SSE and MXCSR from the image" +
    (lost ? ` and ${names(ctx.task, lost)} ${plural(bitsOf(lost).length, "is", "are")} set to init` : "");
  return make(ctx.input.policy, "fxrstor-fallback", reason, `${why}: ${tail}.`, comps, "frame", ctx.notes);
}

/** copy_uabi_to_xstate() of the image, then the kernel buffer restored with the frame's features. */
function uabiCopy(ctx: Ia32Ctx, sw: SwBytesSeen): Prediction {
  const { task, fx } = ctx;
  if (!fx.canRead(XSAVE_HDR_OFFSET, XSAVE_HDR_SIZE)) {
    return fault(
      ctx,
      "ia32-copy-fault",
      `copy_uabi_to_xstate() copies the XSAVE header at fpstate + 112 + 512 but only ${ctx.mem.readable} bytes are mapped from the fpstate`,
    );
  }
  const xstateBv = fx.u64(XSAVE_HDR_OFFSET);
  const xcompBv = fx.u64(XSAVE_HDR_OFFSET + 8);
  const outside = xstateBv & ~task.userFeatures;
  if (outside) {
    return fault(
      ctx,
      "ia32-header-xfeatures",
      `validate_user_xstate_header() returns -EINVAL: XSTATE_BV ${hex(xstateBv)} sets bit${plural(bitsOf(outside).length, "", "s")} ${bitsOf(outside).join(", ")} outside the task's user_xfeatures ${hex(task.userFeatures)}`,
    );
  }
  if (xcompBv !== 0n) {
    return fault(
      ctx,
      "ia32-header-xcomp-bv",
      `validate_user_xstate_header() returns -EINVAL: XCOMP_BV is ${hex(xcompBv)}, and a user frame must be in the standard form (XCOMP_BV 0)${(xcompBv >> 63n) & 1n ? "; the 64-bit path would read it in the compacted form" : ""}`,
    );
  }
  for (let o = 16; o < XSAVE_HDR_SIZE; o += 8) {
    const v = fx.u64(XSAVE_HDR_OFFSET + o);
    if (v !== 0n) {
      return fault(
        ctx,
        "ia32-header-reserved",
        `validate_user_xstate_header() returns -EINVAL: XSAVE header bytes ${o}..${o + 7} are ${hex(v)}, and all of 16..63 must be zero`,
      );
    }
  }
  const mxcsrCopied = (xstateBv & MASK_MXCSR_USERS) !== 0n;
  if (mxcsrCopied) {
    const mxcsr = fx.u32(24);
    if ((mxcsr & ~ctx.mxcsrMask) >>> 0 !== 0) {
      return fault(
        ctx,
        "ia32-mxcsr",
        `copy_uabi_to_xstate() returns -EINVAL: XSTATE_BV has x87, SSE or YMM and MXCSR ${hex(mxcsr)} sets bits outside MXCSR_MASK ${hex(ctx.mxcsrMask)}`,
      );
    }
  }
  for (const c of ctx.comps) {
    if (!hasBit(xstateBv, c.bit) || c.size <= 0) continue;
    if (!fx.canRead(c.offset, c.size)) {
      return fault(
        ctx,
        "ia32-copy-fault",
        `copy_uabi_to_xstate() copies ${c.name} (XSTATE_BV set) from fpstate + 112 + ${c.offset}..${c.offset + c.size - 1}, but only ${ctx.mem.readable} bytes are mapped from the fpstate`,
      );
    }
  }
  // The kernel buffer's header: XSTATE_BV, then `&= user_xfeatures` (the frame's sw.xfeatures).
  const loaded = xstateBv & sw.xfeatures;
  const components: ComponentOutcome[] = ctx.comps.map((c) =>
    hasBit(loaded, c.bit)
      ? { bit: c.bit, name: c.name, result: "frame", offset: frameOffset(c) }
      : { bit: c.bit, name: c.name, result: "init" },
  );
  const fromFrame = ctx.comps.filter((c) => hasBit(loaded, c.bit)).map((c) => c.name);
  const notInSw = ctx.comps.filter((c) => hasBit(xstateBv, c.bit) && !hasBit(sw.xfeatures, c.bit));
  const bvClear = ctx.comps.filter((c) => !hasBit(xstateBv, c.bit));
  const parts = [
    `the frame passes the ${ctx.input.policy} checks on buf_fx (fpstate + 112), copy_uabi_to_xstate() accepts the XSAVE header and the kernel restores ${fromFrame.length ? fromFrame.join(", ") : "nothing"} from the frame${hasBit(loaded, XFEATURE.FP) ? " (x87 from the FSAVE header)" : ""}`,
  ];
  if (notInSw.length)
    parts.push(
      `${notInSw.map((c) => c.name).join(", ")} ${plural(notInSw.length, "is", "are")} not in sw.xfeatures and set to init`,
    );
  if (bvClear.length)
    parts.push(
      `${bvClear.map((c) => c.name).join(", ")} ${plural(bvClear.length, "has", "have")} XSTATE_BV clear and ${plural(bvClear.length, "is", "are")} set to init`,
    );
  let mxcsr: "frame" | "init" = "init";
  if (mxcsrCopied) {
    mxcsr = "frame";
    if (!hasBit(loaded, XFEATURE.SSE) && !hasBit(loaded, XFEATURE.YMM)) {
      ctx.notes.push(
        "MXCSR is copied into the kernel buffer but neither SSE nor YMM stays in its header: whether the final XRSTOR(S) loads it depends on the form the kernel buffer uses",
      );
    }
  } else if (ctx.comps.some((c) => c.bit === XFEATURE.SSE)) {
    parts.push("MXCSR is not copied from the frame (XSTATE_BV has none of x87, SSE, YMM)");
  }
  const all = ctx.comps.every((c) => hasBit(loaded, c.bit));
  return make(
    ctx.input.policy,
    "xrstor",
    all ? "ia32-xstate-full" : "ia32-xstate-partial",
    sentence(parts.join("; ")),
    components,
    mxcsr,
    ctx.notes,
  );
}

/** The ia32 FXSR restore path; `input.fpstate` starts at the FSAVE header. */
export function predictIa32(
  input: PredictInput,
  comps: XComponent[],
  mxcsrMask: number,
  notes: string[],
): Prediction {
  const bytes = input.fpstate!;
  const readable = input.readableBytes ?? bytes.length;
  const ctx: Ia32Ctx = {
    input,
    task: input.task,
    comps,
    mem: new UserMemory(bytes, readable),
    fx: new UserMemory(bytes.subarray(Math.min(IA32_FSAVE_SIZE, bytes.length)), readable - IA32_FSAVE_SIZE),
    mxcsrMask,
    notes,
  };
  if (input.policy === "legacy") {
    notes.push(
      "ia32 before v5.14: the check is check_for_xstate() (faults fall back to FX-only); the copy after it is modelled on the v5.14+ code",
    );
  }
  let fxOnlyWhy: { reason: ReasonCode; why: string } | undefined;
  let sw: SwBytesSeen | undefined;
  if (!input.task.xsave) {
    fxOnlyWhy = {
      reason: "no-xsave",
      why: "the CPU does not use XSAVE, so the software bytes are ignored",
    };
  } else {
    const chk = checkXstate(input.policy, ctx.fx, input.task);
    if (chk.kind === "fatal")
      return fault(ctx, chk.reason, `${chk.detail} (offsets from buf_fx = fpstate + 112)`);
    if (chk.kind === "fx-only")
      fxOnlyWhy = { reason: chk.reason, why: `${chk.detail} (offsets from buf_fx = fpstate + 112)` };
    else sw = chk.sw;
  }
  if (!ctx.mem.canRead(0, IA32_FSAVE_SIZE)) {
    return fault(
      ctx,
      "ia32-fsave-fault",
      `copying the 112-byte FSAVE header at the fpstate faults: only ${ctx.mem.readable} bytes are mapped`,
    );
  }
  if (fxOnlyWhy) return fxOnly(ctx, fxOnlyWhy.reason, fxOnlyWhy.why);
  return uabiCopy(ctx, sw!);
}
