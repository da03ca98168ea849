/**
 * One magic1 hit, examined: is there a kernel signal frame around it?
 *
 * A hit becomes a *frame* when the fpstate it implies is 64-byte aligned, its sw_bytes are
 * consistent (extended_size = xstate_size + 4, a user xfeatures mask with FP|SSE, zero padding),
 * magic2 sits at fpstate + xstate_size, the XSAVE header is a standard-format one, and the
 * rt_sigframe that the kernel's allocation puts below this fpstate has a `uc_mcontext.fpstate`
 * pointing back at it. Anything short of that is a *rejection* with a stable code.
 *
 * A frame then carries the problems of its contents (placement against its own saved rsp,
 * segment selectors, flags, addresses), each of which keeps it from `high` confidence. Whether it
 * is live (on a thread's stack, above sp, on the chain) is decided in `scan.ts`.
 */
import { componentInfo } from "../xsave/components.ts";
import {
  FP,
  FRAME,
  fpstateForAltstack,
  fpstateForInterruptedRsp,
  frameForFpstate,
  MAGIC1,
  MAGIC2,
  MAX_XSTATE_SIZE,
  RT_SIGFRAME_SIZE,
  SIGCONTEXT_FIELDS,
  type SigcontextField,
  SS_DISABLE,
  SS_ONSTACK,
  UC_FP_XSTATE,
  UC_SIGCONTEXT_SS,
  UC_STRICT_RESTORE_SS,
  USER_ADDR_LIMIT_5L,
  USER_CS,
  USER_DS,
} from "./geometry.ts";

/** What a MemoryImage-like reader must do for the examiner. */
export interface FrameReader {
  read(addr: bigint, len: number): Uint8Array | undefined;
}

/** User xfeatures the kernel can put in sw_bytes.xfeatures (XFEATURE_MASK_USER_SUPPORTED). */
export const USER_XFEATURES_MASK = [0, 1, 2, 3, 4, 5, 6, 7, 9, 17, 18, 19].reduce(
  (m, b) => m | (1n << BigInt(b)),
  0n,
);

export type RejectCode =
  | "misaligned"
  | "unreadable"
  | "sw-bytes"
  | "no-magic2"
  | "xsave-header"
  | "no-ucontext"
  | "frame-unreadable";

export interface Rejected {
  magic1: bigint;
  /** magic1 − 464: the fpstate this hit would belong to. */
  fpstate: bigint;
  code: RejectCode;
  reason: string;
}

export interface SwBytes {
  magic1: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateSize: number;
}

/** A kernel-shaped signal frame found in memory. */
export interface KernelFrame {
  magic1: bigint;
  /** &rt_sigframe: the pretcode slot, the rsp at handler entry. */
  frame: bigint;
  ucontext: bigint;
  siginfo: bigint;
  fpstate: bigint;
  /** fpstate + extended_size (exclusive). */
  end: bigint;
  pretcode: bigint;
  ucFlags: bigint;
  ucLink: bigint;
  ucStack: { sp: bigint; flags: number; size: bigint };
  ucSigmask: bigint;
  sigcontext: Record<SigcontextField, bigint>;
  cs: number;
  gs: number;
  fs: number;
  ss: number;
  siginfoFields: { signo: number; errno: number; code: number; pid: number; uid: number };
  sw: SwBytes;
  xstateBv: bigint;
  xcompBv: bigint;
  fcw: number;
  mxcsr: number;
  /** How the kernel's allocation explains where this fpstate is, from the frame's own saved state. */
  placement: "stack" | "altstack" | null;
  /** What is wrong with the frame's own contents; empty when it is what the kernel writes. */
  problems: string[];
}

export type Examined = { kind: "frame"; frame: KernelFrame } | { kind: "rejected"; rejected: Rejected };

export interface ExamineContext {
  /** Is `addr` in a mapping with these permissions? undefined = regions unknown (raw image). */
  mappedWith?(addr: bigint, perm: "r" | "w" | "x"): boolean | undefined;
}

const h = (v: bigint | number) => `0x${v.toString(16)}`;

function reject(magic1: bigint, code: RejectCode, reason: string): Examined {
  return { kind: "rejected", rejected: { magic1, fpstate: magic1 - BigInt(FP.magic1), code, reason } };
}

/** Lower bound on xstate_size for a feature mask: the legacy area, the header and each component. */
export function minXstateSize(xfeatures: bigint): number {
  let n = 576;
  for (let b = 2; b < 64; b++) if ((xfeatures >> BigInt(b)) & 1n) n += componentInfo(b).archSize ?? 0;
  return n;
}

/** Reads and checks the sw_bytes at a 64-aligned fpstate; a problem string or the values. */
export function checkSwBytes(sw: Uint8Array): SwBytes | string {
  const dv = new DataView(sw.buffer, sw.byteOffset, sw.byteLength);
  const magic1 = dv.getUint32(0, true);
  const extendedSize = dv.getUint32(4, true);
  const xfeatures = dv.getBigUint64(8, true);
  const xstateSize = dv.getUint32(16, true);
  if (magic1 !== MAGIC1) return `magic1 is ${h(magic1)}`;
  if (xstateSize < 576 || xstateSize > MAX_XSTATE_SIZE)
    return `xstate_size ${xstateSize} is outside 576..${MAX_XSTATE_SIZE}`;
  if (extendedSize !== xstateSize + 4)
    return `extended_size ${extendedSize} is not xstate_size ${xstateSize} + 4 (a 64-bit frame)`;
  if ((xfeatures & 3n) !== 3n) return `xfeatures ${h(xfeatures)} lacks FP|SSE`;
  if ((xfeatures & ~USER_XFEATURES_MASK) !== 0n)
    return `xfeatures ${h(xfeatures)} has bits that are not user XSAVE features`;
  const min = minXstateSize(xfeatures);
  if (xstateSize < min)
    return `xstate_size ${xstateSize} is too small for xfeatures ${h(xfeatures)} (≥ ${min})`;
  for (let i = 20; i < 48; i++) if (sw[i] !== 0) return `sw_bytes padding byte ${i} is not zero`;
  return { magic1, extendedSize, xfeatures, xstateSize };
}

/** Examines the magic1 dword at `magic1`. */
export function examine(mem: FrameReader, magic1: bigint, ctx: ExamineContext = {}): Examined {
  const fpstate = magic1 - BigInt(FP.magic1);
  if (fpstate % 64n !== 0n)
    return reject(
      magic1,
      "misaligned",
      `fpstate ${h(fpstate)} would not be 64-byte aligned (${fpstate % 64n} mod 64)`,
    );
  const swb = mem.read(magic1, 48);
  if (!swb) return reject(magic1, "unreadable", "the sw_bytes are not all present in the image");
  const sw = checkSwBytes(swb);
  if (typeof sw === "string") return reject(magic1, "sw-bytes", sw);

  const m2 = mem.read(fpstate + BigInt(sw.xstateSize), 4);
  if (!m2)
    return reject(magic1, "no-magic2", `magic2 at fpstate+${sw.xstateSize} is not present in the image`);
  const m2v = new DataView(m2.buffer, m2.byteOffset, 4).getUint32(0, true);
  if (m2v !== MAGIC2)
    return reject(magic1, "no-magic2", `no magic2 at fpstate+${sw.xstateSize} (found ${h(m2v)})`);

  const hdr = mem.read(fpstate + BigInt(FP.xstateBv), 64);
  if (!hdr) return reject(magic1, "unreadable", "the XSAVE header is not present in the image");
  const hv = new DataView(hdr.buffer, hdr.byteOffset, 64);
  const xstateBv = hv.getBigUint64(0, true);
  const xcompBv = hv.getBigUint64(8, true);
  if (xcompBv !== 0n)
    return reject(magic1, "xsave-header", `xcomp_bv ${h(xcompBv)}: not a standard-format user frame`);
  for (let i = 16; i < 64; i++)
    if (hdr[i] !== 0)
      return reject(magic1, "xsave-header", `XSAVE header reserved byte ${512 + i} is not zero`);
  if ((xstateBv & ~sw.xfeatures) !== 0n)
    return reject(
      magic1,
      "xsave-header",
      `xstate_bv ${h(xstateBv)} has bits outside xfeatures ${h(sw.xfeatures)}`,
    );

  const frameAddr = frameForFpstate(fpstate);
  const fb = mem.read(frameAddr, RT_SIGFRAME_SIZE);
  if (!fb)
    return reject(
      magic1,
      "frame-unreadable",
      `the rt_sigframe the kernel would put at ${h(frameAddr)} is not present in the image`,
    );
  const fv = new DataView(fb.buffer, fb.byteOffset, fb.byteLength);
  const ptr = fv.getBigUint64(FRAME.fpstatePtr, true);
  if (ptr !== fpstate) {
    const what = ptr === 0n ? "0 (no FPU state)" : h(ptr);
    return reject(
      magic1,
      "no-ucontext",
      `the ucontext at ${h(frameAddr + 8n)} has uc_mcontext.fpstate ${what}, not this fpstate: no frame owns it`,
    );
  }

  const sc = {} as Record<SigcontextField, bigint>;
  SIGCONTEXT_FIELDS.forEach((name, i) => {
    sc[name] = fv.getBigUint64(FRAME.mcontext + 8 * i, true);
  });
  // Every byte the kernel wrote must be here: a frame with a hole (a segment boundary, bytes not
  // dumped) cannot be decoded or restored.
  const legacy = mem.read(fpstate, sw.extendedSize);
  if (!legacy)
    return reject(
      magic1,
      "unreadable",
      `the fpstate's ${sw.extendedSize} bytes (extended_size) are not all present in the image`,
    );
  const lv = new DataView(legacy.buffer, legacy.byteOffset, 32);
  const f: KernelFrame = {
    magic1,
    frame: frameAddr,
    ucontext: frameAddr + BigInt(FRAME.uc),
    siginfo: frameAddr + BigInt(FRAME.siginfo),
    fpstate,
    end: fpstate + BigInt(sw.extendedSize),
    pretcode: fv.getBigUint64(FRAME.pretcode, true),
    ucFlags: fv.getBigUint64(FRAME.ucFlags, true),
    ucLink: fv.getBigUint64(FRAME.ucLink, true),
    ucStack: {
      sp: fv.getBigUint64(FRAME.ucStackSp, true),
      flags: fv.getInt32(FRAME.ucStackFlags, true),
      size: fv.getBigUint64(FRAME.ucStackSize, true),
    },
    ucSigmask: fv.getBigUint64(FRAME.ucSigmask, true),
    sigcontext: sc,
    cs: fv.getUint16(FRAME.mcontext + 144, true),
    gs: fv.getUint16(FRAME.mcontext + 146, true),
    fs: fv.getUint16(FRAME.mcontext + 148, true),
    ss: fv.getUint16(FRAME.mcontext + 150, true),
    siginfoFields: {
      signo: fv.getInt32(FRAME.siginfo, true),
      errno: fv.getInt32(FRAME.siginfo + 4, true),
      code: fv.getInt32(FRAME.siginfo + 8, true),
      pid: fv.getInt32(FRAME.siginfo + 16, true),
      uid: fv.getUint32(FRAME.siginfo + 20, true),
    },
    sw,
    xstateBv,
    xcompBv,
    fcw: lv.getUint16(FP.fcw, true),
    mxcsr: lv.getUint32(FP.mxcsr, true),
    placement: null,
    problems: [],
  };
  checkContents(f, ctx);
  return { kind: "frame", frame: f };
}

/** The checks on a frame's own contents; each failure is a problem that keeps it from `high`. */
function checkContents(f: KernelFrame, ctx: ExamineContext): void {
  const p = f.problems;
  const sc = f.sigcontext;
  const ext = f.sw.extendedSize;

  // Placement: the kernel derives fpstate from the interrupted rsp, or from the altstack it switched to.
  if (fpstateForInterruptedRsp(sc.rsp, ext) === f.fpstate) f.placement = "stack";
  else {
    const st = f.ucStack;
    if (
      st.size > 0n &&
      (st.flags & (SS_DISABLE | SS_ONSTACK)) === 0 &&
      fpstateForAltstack(st.sp, st.size, ext) === f.fpstate &&
      f.frame >= st.sp
    )
      f.placement = "altstack";
  }
  if (f.placement === null) {
    p.push(
      `fpstate ${h(f.fpstate)} is not where the kernel puts it for the saved rsp ${h(sc.rsp)} (expected ${h(
        fpstateForInterruptedRsp(sc.rsp, ext),
      )}) nor at the top of the saved altstack`,
    );
  }

  if ((f.xstateBv & 3n) !== 3n)
    p.push(`xstate_bv ${h(f.xstateBv)} lacks FP|SSE, which the kernel always sets`);
  const knownFlags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
  if ((f.ucFlags & UC_FP_XSTATE) === 0n || (f.ucFlags & ~knownFlags) !== 0n)
    p.push(`uc_flags ${h(f.ucFlags)} is not what the kernel writes with XSAVE (0x1 set, nothing above 0x7)`);
  if (f.ucLink !== 0n) p.push(`uc_link ${h(f.ucLink)} is not 0`);
  if (f.cs !== USER_CS) p.push(`cs ${h(f.cs)} is not the 64-bit user code segment 0x33`);
  if ((f.ucFlags & UC_SIGCONTEXT_SS) !== 0n && f.ss !== USER_DS)
    p.push(`ss ${h(f.ss)} is not the user data segment 0x2b`);
  if (f.fs !== 0 || f.gs !== 0) p.push("the fs/gs slots are not 0");
  const fl = sc.eflags;
  if ((fl & 0x202n) !== 0x202n || (fl & 0x3000n) !== 0n || (fl & 0x20000n) !== 0n || fl >> 22n !== 0n)
    p.push(`eflags ${h(fl)} is not a user-mode value (IF and bit 1 set, IOPL 0, no VM)`);
  // No check of siginfo: the kernel writes it only for an SA_SIGINFO handler (x64_setup_rt_frame()
  // in arch/x86/kernel/signal_64.c); a handler installed with signal() leaves that slot as the
  // stack had it. Such a frame's signal is unknown (siginfoSignal()).
  for (const [what, a] of [
    ["rip", sc.rip],
    ["rsp", sc.rsp],
    ["pretcode", f.pretcode],
  ] as const) {
    if (a === 0n || a >= USER_ADDR_LIMIT_5L) p.push(`${what} ${h(a)} is not a user address`);
  }
  p.push(...mappingProblems(f, ctx));
}

/**
 * The checks of a frame's addresses against the mappings (the last of its problems). A streamed
 * scan makes them once the stream has ended, when every mapping is known (a core's NT_FILE note
 * may come after its memory).
 */
export function mappingProblems(f: KernelFrame, ctx: ExamineContext): string[] {
  const p: string[] = [];
  const sc = f.sigcontext;
  if (ctx.mappedWith) {
    if (ctx.mappedWith(sc.rip, "x") === false)
      p.push(`the saved rip ${h(sc.rip)} is not in an executable mapping`);
    if (ctx.mappedWith(f.pretcode, "x") === false)
      p.push(`pretcode (sa_restorer) ${h(f.pretcode)} is not in an executable mapping`);
    if (ctx.mappedWith(sc.rsp, "w") === false)
      p.push(`the saved rsp ${h(sc.rsp)} is not in a writable mapping`);
    if (ctx.mappedWith(f.frame, "w") === false)
      p.push(`the frame at ${h(f.frame)} is not in a writable mapping`);
  }
  return p;
}
