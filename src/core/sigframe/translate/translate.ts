/**
 * Moving XSAVE state from one CPU's standard-format layout to another's, component by component
 * (the translation the kernel developers suggested in the 2026 revert thread: userspace converts
 * the buffer from CPU A's format to CPU B's before it restores on B; CRIU does the same per
 * component from its images, criu/arch/x86/crtools.c restore_fpu()).
 *
 * The legacy region (x87, SSE, MXCSR) is the same on every CPU and is copied as is. Each extended
 * component the source frame carries and the receiving task has moves to B's offset
 * (CPUID(0xD,i).EBX on B); components B's task lacks are dropped; components B has that the
 * frame does not carry are left init (XSTATE_BV clear). The sw bytes and magic2 are rewritten for
 * B: kernel style (xstate_size = B's user_size, what the kernel itself would write on B) or CRIU
 * style (xstate_size trimmed to the highest component in use).
 *
 * Every translation is checked by decoding the result at B's layout; a register that does not read
 * back as its source value is an error, never a silent output.
 */
import { InvalidDataError } from "../../errors.ts";
import { hex } from "../../hex.ts";
import type { Fpstate } from "../fpstate.ts";
import { encodeSigframeImage, type SigframeImage } from "../frame.ts";
import { planComponents, planMxcsr } from "./plan.ts";
import type {
  FpstateTranslation,
  FrameTranslation,
  TranslateFrameOptions,
  TranslateOptions,
} from "./types.ts";
import { validateSource } from "./validate.ts";
import { verifyTranslation } from "./verify.ts";
import { sizesOf, writeArea } from "./write.ts";

/** Translates one FPU area written at `from`'s layout to `to`'s. Throws on input it cannot carry. */
export function translateFpstate(src: Fpstate, opts: TranslateOptions): FpstateTranslation {
  const { from, to } = opts;
  const style = opts.style ?? "kernel";
  const valid = validateSource(src, from, to);
  const plan = planComponents(src, valid.header, from, to);
  const mxcsr = planMxcsr(src, opts.mxcsrMask, opts.fixMxcsr === true);
  const area = writeArea(src, valid.header, plan, mxcsr, to, style, opts.areaSize);
  const dropped = plan.components.filter((c) => c.action === "dropped");
  const t: FpstateTranslation = {
    fpstate: area.fpstate,
    bytes: area.bytes,
    style,
    components: plan.components,
    lost: dropped.filter((c) => c.lost).map((c) => c.name),
    dropped: dropped.map((c) => c.name),
    mxcsr,
    source: sizesOf(src),
    result: sizesOf(area.fpstate),
    needed: area.needed,
    notes: [...valid.notes, ...plan.notes, ...area.notes],
  };
  verifyTranslation(src, t, to);
  return t;
}

/**
 * Translates a whole rt_sigframe (or SROP payload) image. Without keepSize the area takes B's size:
 * a smaller one stays at its address and the frame ends earlier; a larger one is laid out as the
 * kernel would place it under the same top of stack: the end stays, the FPU area is re-aligned to
 * 64 bytes below it and the frame follows it down, and the fpstate pointer names the new place.
 * With keepSize the area is written in place and the frame keeps its length (refused when B's
 * area does not fit in A's).
 */
export function translateSigframeImage(img: SigframeImage, opts: TranslateFrameOptions): FrameTranslation {
  const fp = img.fpstate;
  const off = img.fpstateOffset;
  if (img.frame.mcontext.fpstate === 0n)
    throw new InvalidDataError("the frame's fpstate pointer is NULL: it carries no FPU state to translate", {
      path: "frame/uc/uc_mcontext/fpstate",
    });
  if (!fp || off === undefined)
    throw new InvalidDataError(
      `the frame's fpstate ${hex(img.frame.mcontext.fpstate)} is not inside the input (give the address of the first byte)`,
      { path: "frame/uc/uc_mcontext/fpstate" },
    );
  const topts: TranslateOptions = { ...opts };
  if (opts.keepSize) topts.areaSize = fp.size;
  const t = translateFpstate(fp, topts);
  const oldFp = img.frame.mcontext.fpstate;
  const oldEnd = oldFp + BigInt(fp.size);
  // A smaller area stays where it is (it ends earlier); a larger one grows downward under the
  // same end, as the kernel would have placed it below the same top of stack.
  const newFp = t.fpstate.size <= fp.size ? oldFp : (oldEnd - BigInt(t.fpstate.size)) & ~63n;
  const delta = newFp - oldFp;
  const image: SigframeImage = {
    ...img,
    frame: { ...img.frame, mcontext: { ...img.frame.mcontext, fpstate: newFp } },
    base: img.base + delta,
    fpstate: t.fpstate,
    fpstateOffset: off,
    size: off + t.fpstate.size,
    extra: img.extra.filter((r) => r.offset + r.bytes.length <= off),
  };
  const bytes = encodeSigframeImage(image);
  return {
    image,
    bytes,
    fpstate: t,
    relocation: {
      fpstateOffset: off,
      base: { from: img.base, to: image.base },
      fpstate: { from: oldFp, to: newFp },
      end: { from: oldEnd, to: newFp + BigInt(t.fpstate.size) },
      delta,
      inPlace: delta === 0n,
    },
  };
}
