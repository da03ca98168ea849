/**
 * Inconsistencies in a decoded frame, each with a stable code, the field it concerns and what a
 * kernel does with it. Pure observations: `inspect` shows them, `predict` gives the verdict.
 */
import { bitsOf, hasBit, hex } from "../hex.ts";
import { effectiveMxcsrMask, type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import {
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2,
  MASK_FPSSE,
  MIN_XSTATE_SIZE,
  XFEATURE,
} from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { pkruKey0, pkruKey0Words } from "../xsave/pkru.ts";
import { KNOWN_UC_FLAGS, USER_ADDRESS_LIMIT, USER_CODE_SEGMENTS } from "./detect.ts";
import { IA32_RETCODE, IA32_RT_RETCODE, UC_FP_XSTATE, UC_STRICT_RESTORE_SS } from "./fields.ts";

/** __USER_DS: the 64-bit user data (and stack) segment. */
const USER_DS_SELECTOR = 0x2b;

import { componentSlots, type Fpstate } from "./fpstate.ts";
import type { SigframeImage } from "./frame.ts";
import { type Ia32Fpstate, type Ia32SigframeImage, X86_FXSR_MAGIC } from "./ia32.ts";
import { x87Agrees } from "./ia32-build.ts";

export interface Finding {
  code: string;
  severity: "error" | "warning" | "info";
  /** Field path, e.g. fpstate/sw_bytes/extended_size. */
  path: string;
  message: string;
}

/**
 * The exit code of a report of findings, as `check` grades its own: 3 when some finding is an
 * error (the kernel would not restore the frame as written: SIGSEGV, an FX-only fallback, state
 * read from the wrong bytes), 1 when the worst is a warning, 0 otherwise.
 */
export function findingsExitCode(findings: readonly Finding[]): 0 | 1 | 3 {
  if (findings.some((f) => f.severity === "error")) return 3;
  return findings.some((f) => f.severity === "warning") ? 1 : 0;
}

export interface CheckOptions {
  /** Profile of the CPU the frame is read against (offsets, XCR0, user_size). */
  layout?: XsaveLayout;
  /** Address of the fpstate, when known (alignment). */
  address?: bigint;
  /**
   * MXCSR_MASK of the receiving CPU (measured, or estimated from its CPUID): what FXRSTOR/XRSTOR
   * check MXCSR against. Without it, the frame's own mxcsr_mask field (0 → 0xffbf) stands in: the
   * mask of the CPU that wrote the frame, which the restoring hardware ignores.
   */
  mxcsrMask?: MxcsrMaskInput;
  /**
   * The image is an ia32 area's (at FSAVE header + 112): extended_size includes the 112 bytes,
   * and the kernel validates the XSAVE header itself (compacted form and bytes 24..63 rejected).
   */
  ia32?: boolean;
}

export function checkFpstate(fp: Fpstate, opts: CheckOptions = {}): Finding[] {
  const out: Finding[] = [];
  const add = (code: string, severity: Finding["severity"], path: string, message: string) =>
    out.push({ code, severity, path, message });
  const { sw, header } = fp;
  const layout = opts.layout;
  if (opts.address !== undefined) {
    if (opts.address % 64n !== 0n) {
      add(
        "fpstate-misaligned",
        "error",
        "fpstate",
        `fpstate at ${hex(opts.address)} is not 64-byte aligned: XRSTOR raises #GP (SIGSEGV) on v5.14+; only an FX-only restore (needs 16) survives`,
      );
    }
  }
  const cpuMask = opts.mxcsrMask !== undefined ? resolveMxcsrMask(opts.mxcsrMask) : undefined;
  const mask = cpuMask ? cpuMask.value : effectiveMxcsrMask(Number(fp.legacy.mxcsr_mask));
  const whose = cpuMask
    ? `${layout ? `${layout.profile.name}'s ` : "the CPU's "}MXCSR_MASK ${hex(mask)} (${cpuMask.basis})`
    : `MXCSR_MASK ${hex(mask)} (the frame's mxcsr_mask field, as the writing CPU's FXSAVE stored it; the restoring CPU's own mask decides: pass --cpu)`;
  const mxcsr = Number(fp.legacy.mxcsr);
  if ((mxcsr & ~mask) >>> 0) {
    add(
      "mxcsr-reserved-bits",
      "error",
      "fpstate/legacy/mxcsr",
      `MXCSR ${hex(mxcsr)} sets bits outside ${whose}: FXRSTOR, and XRSTOR when it loads MXCSR, raise #GP (SIGSEGV)`,
    );
  }
  if (sw.magic1 !== FP_XSTATE_MAGIC1) {
    add(
      "magic1-missing",
      sw.magic1 === 0 ? "info" : "warning",
      "fpstate/sw_bytes/magic1",
      `magic1 is ${hex(sw.magic1)}: a legacy FXSAVE-only frame; sigreturn restores x87/SSE and sets every other component to init`,
    );
    return out;
  }
  if (sw.xstateSize < MIN_XSTATE_SIZE) {
    add(
      "xstate-size-below-minimum",
      "error",
      "fpstate/sw_bytes/xstate_size",
      `xstate_size ${sw.xstateSize} < ${MIN_XSTATE_SIZE}: classic kernels fall back to FX-only`,
    );
  }
  const extra = opts.ia32 ? 4 + 112 : 4;
  if (sw.extendedSize !== sw.xstateSize + extra) {
    add(
      "extended-size-mismatch",
      sw.extendedSize < sw.xstateSize ? "error" : "warning",
      "fpstate/sw_bytes/extended_size",
      `extended_size ${sw.extendedSize} ≠ xstate_size + ${opts.ia32 ? "4 + 112" : "4"} (${sw.xstateSize + extra})` +
        (sw.extendedSize < sw.xstateSize
          ? ": classic kernels fall back to FX-only"
          : ": kernels only check xstate_size ≤ extended_size"),
    );
  }
  if (fp.magic2 === undefined) {
    add(
      "magic2-missing",
      "error",
      "fpstate/magic2",
      `magic2 at xstate_size ${sw.xstateSize} lies beyond the ${fp.size}-byte input`,
    );
  } else if (fp.magic2 !== FP_XSTATE_MAGIC2) {
    add(
      "magic2-missing",
      "error",
      "fpstate/magic2",
      `the u32 at xstate_size ${sw.xstateSize} is ${hex(fp.magic2)}, not FP_XSTATE_MAGIC2: FX-only on every kernel`,
    );
  }
  if (sw.padding.some((p) => p !== 0)) {
    add(
      "sw-padding-nonzero",
      "info",
      "fpstate/sw_bytes/padding",
      "sw_bytes padding is not zero (ignored by the kernel)",
    );
  }
  if (!header) return out;
  const bvOutside = header.xstateBv & ~(sw.xfeatures | MASK_FPSSE);
  if (bvOutside) {
    add(
      "xstate-bv-not-in-xfeatures",
      "warning",
      "fpstate/header/xstate_bv",
      `xstate_bv ${hex(header.xstateBv)} sets bits ${bitsOf(bvOutside).join(", ")} that sw xfeatures ${hex(sw.xfeatures)} lacks: those components are set to init`,
    );
  }
  const compacted = (header.xcompBv >> 63n) & 1n;
  if (compacted) {
    add(
      "compacted-form",
      opts.ia32 ? "error" : "warning",
      "fpstate/header/xcomp_bv",
      opts.ia32
        ? `xcomp_bv ${hex(header.xcompBv)} selects the compacted form: the ia32 path rejects any non-zero xcomp_bv (validate_user_xstate_header(), SIGSEGV)`
        : `xcomp_bv ${hex(header.xcompBv)} selects the compacted form: user frames are standard form; the 64-bit path does not check it and XRSTOR reads compacted offsets`,
    );
  } else if (header.xcompBv !== 0n) {
    add(
      "xcomp-bv-nonzero",
      "error",
      "fpstate/header/xcomp_bv",
      `xcomp_bv ${hex(header.xcompBv)} ≠ 0: XRSTOR raises #GP (SIGSEGV)`,
    );
  }
  if (header.reserved[0] !== 0n) {
    add(
      "header-reserved-nonzero",
      "error",
      "fpstate/header/reserved0",
      "header bytes 16..23 are not zero: XRSTOR raises #GP (SIGSEGV)",
    );
  }
  if (header.reserved.slice(1).some((r) => r !== 0n)) {
    add(
      "header-reserved-nonzero",
      compacted || opts.ia32 ? "error" : "info",
      "fpstate/header/reserved1",
      opts.ia32
        ? "header bytes 24..63 are not zero: the ia32 path rejects them (validate_user_xstate_header(), SIGSEGV)"
        : compacted
          ? "header bytes 24..63 are not zero: compacted-form XRSTOR raises #GP"
          : "header bytes 24..63 are not zero (the standard form ignores them)",
    );
  }
  if (layout) {
    const outside = header.xstateBv & ~layout.xcr0;
    if (outside) {
      add(
        "xstate-bv-outside-xcr0",
        "error",
        "fpstate/header/xstate_bv",
        `xstate_bv sets bits ${bitsOf(outside).join(", ")} outside this CPU's XCR0 ${hex(layout.xcr0)}: XRSTOR raises #GP (SIGSEGV)`,
      );
    }
    if (sw.xstateSize > layout.userSize) {
      add(
        "xstate-size-above-user-size",
        "error",
        "fpstate/sw_bytes/xstate_size",
        `xstate_size ${sw.xstateSize} > this task's user_size ${layout.userSize}: FX-only on every kernel`,
      );
    } else if (sw.xstateSize !== layout.userSize) {
      add(
        "xstate-size-not-user-size",
        "warning",
        "fpstate/sw_bytes/xstate_size",
        `xstate_size ${sw.xstateSize} ≠ this task's user_size ${layout.userSize}: refined kernels (dc8aa31a7ac2, v6.15–v7.1-rc5) look for magic2 at ${layout.userSize} and fall back to FX-only`,
      );
    }
    const rfbm = sw.xfeatures & layout.userFeatures;
    for (const s of componentSlots(layout, header)) {
      if (!hasBit(header.xstateBv, s.bit) || !hasBit(rfbm, s.bit)) continue;
      if (s.offset + s.size > fp.size) {
        add(
          "component-beyond-input",
          "warning",
          `fpstate/${s.name}`,
          `${s.name} (${s.offset}..${s.offset + s.size - 1}) is marked present but the input ends at ${fp.size}`,
        );
      } else if (s.offset + s.size > sw.xstateSize) {
        add(
          "component-beyond-xstate-size",
          "warning",
          `fpstate/${s.name}`,
          `${s.name} (${s.offset}..${s.offset + s.size - 1}) is marked present but ends past xstate_size ${sw.xstateSize}: XRSTOR still reads it`,
        );
      }
    }
    const pkru = fp.components.find((c) => c.bit === XFEATURE.PKRU)?.registers.pkru;
    if (pkru !== undefined && hasBit(header.xstateBv & rfbm, XFEATURE.PKRU) && pkruKey0(Number(pkru))) {
      add(
        "pkru-locks-key0",
        "error",
        "fpstate/PKRU/pkru",
        `${pkruKey0Words(Number(pkru))}: sigreturn of this frame loads it and the task dies right after`,
      );
    }
  }
  if (fp.extra.length) {
    const n = fp.extra.reduce((a, r) => a + r.bytes.length, 0);
    add(
      "unclaimed-bytes",
      "info",
      "fpstate",
      `${n} non-zero bytes in ${fp.extra.length} run(s) belong to no field (reserved space, gaps, stale data)`,
    );
  }
  return out;
}

/**
 * The frame's own fields against what rt_sigreturn can take (arch/x86/kernel/signal_64.c
 * restore_sigcontext(), v6.18): an address the return to user mode cannot use, a segment it
 * faults on, fields the kernel never writes. A frame the kernel wrote has none of these.
 */
function checkFrameFields(img: SigframeImage): Finding[] {
  const out: Finding[] = [];
  const add = (code: string, severity: Finding["severity"], path: string, message: string) =>
    out.push({ code, severity, path, message });
  const f = img.frame;
  const mc = f.mcontext;
  const ucp = "frame/uc";
  const mcp = `${ucp}/uc_mcontext`;
  const nonCanonical = (v: bigint) => v >= USER_ADDRESS_LIMIT;
  for (const [n, why] of [
    ["rip", "the return to user mode faults: SIGSEGV right after sigreturn"],
    ["rsp", "the first use of the stack faults: SIGSEGV"],
  ] as const) {
    const v = mc[n];
    if (nonCanonical(v))
      add("address-not-user", "error", `${mcp}/${n}`, `${n} ${hex(v)} is not a user address: ${why}`);
  }
  if (mc.fpstate !== 0n && nonCanonical(mc.fpstate))
    add(
      "address-not-user",
      "error",
      `${mcp}/fpstate`,
      `fpstate ${hex(mc.fpstate)} is not a user address: sigreturn cannot read the FPU area and sends SIGSEGV ("bad frame")`,
    );
  if (f.pretcode !== undefined && f.pretcode !== 0n && nonCanonical(f.pretcode))
    add(
      "address-not-user",
      "warning",
      "frame/pretcode",
      `pretcode ${hex(f.pretcode)} is not a user address: the handler's return jumps there and faults (sigreturn itself does not read it)`,
    );
  const cs = Number(mc.cs);
  if (!USER_CODE_SEGMENTS.includes(cs))
    add(
      "cs-not-user",
      "error",
      `${mcp}/cs`,
      `cs ${hex(cs)} is not a user code segment (0x33, or 0x23 for 32-bit code): sigreturn loads cs | 3 and the return to user mode faults (SIGSEGV)`,
    );
  const flags = f.uc.uc_flags;
  if ((flags & UC_STRICT_RESTORE_SS) !== 0n && Number(mc.ss) !== USER_DS_SELECTOR)
    add(
      "ss-not-user",
      "error",
      `${mcp}/ss`,
      `ss ${hex(Number(mc.ss))} with UC_STRICT_RESTORE_SS: sigreturn keeps it (no force_valid_ss()) and the return to user mode faults (SIGSEGV); the user data segment is 0x2b`,
    );
  if (flags & ~KNOWN_UC_FLAGS)
    add(
      "uc-flags-unknown",
      "warning",
      `${ucp}/uc_flags`,
      `uc_flags ${hex(flags)} has bits the kernel never sets (sigreturn ignores them)`,
    );
  if (f.uc.uc_link !== 0n)
    add(
      "uc-link-nonzero",
      "info",
      `${ucp}/uc_link`,
      `uc_link ${hex(f.uc.uc_link)} is not 0 (the kernel writes 0; sigreturn ignores it)`,
    );
  if (mc.eflags >> 22n !== 0n)
    add(
      "eflags-reserved",
      "info",
      `${mcp}/eflags`,
      `eflags ${hex(mc.eflags)} sets bits that do not exist; sigreturn keeps only the user-modifiable ones (FIX_EFLAGS)`,
    );
  const signo = f.info?.si_signo;
  if (signo !== undefined && (signo < 1n || signo > 64n))
    add(
      "signo-invalid",
      "info",
      "frame/info/si_signo",
      `si_signo ${signo} is not a signal number (sigreturn does not read it)`,
    );
  return out;
}

export function checkFrame(img: SigframeImage, opts: CheckOptions = {}): Finding[] {
  const out: Finding[] = checkFrameFields(img);
  const mc = img.frame.mcontext;
  if (mc.fpstate === 0n) {
    out.push({
      code: "fpstate-null",
      severity: "info",
      path: "frame/uc/uc_mcontext/fpstate",
      message: "fpstate is NULL: sigreturn resets every user FPU register to init",
    });
  } else if (!img.fpstate) {
    out.push({
      code: "fpstate-outside-input",
      severity: "warning",
      path: "frame/uc/uc_mcontext/fpstate",
      message:
        img.baseSource === "none"
          ? `fpstate ${hex(mc.fpstate)} cannot be located without --base`
          : `fpstate ${hex(mc.fpstate)} lies outside the input (base ${hex(img.base)}, ${img.size} bytes)`,
    });
  }
  if (img.fpstate) {
    const xsaveFrame = img.fpstate.sw.magic1 === FP_XSTATE_MAGIC1;
    if (((img.frame.uc.uc_flags & UC_FP_XSTATE) !== 0n) !== xsaveFrame) {
      out.push({
        code: "uc-flags-fp-xstate",
        severity: "info",
        path: "frame/uc/uc_flags",
        message: `UC_FP_XSTATE is ${xsaveFrame ? "clear" : "set"} but magic1 says ${xsaveFrame ? "XSAVE" : "legacy"} (sigreturn ignores the flag)`,
      });
    }
    const o: CheckOptions = { ...opts, address: mc.fpstate };
    for (const f of checkFpstate(img.fpstate, o)) out.push(f);
  }
  return out;
}

/**
 * Findings for an ia32 FPU area: the FSAVE header's magic, whether its x87 state agrees with the
 * image's (sigreturn takes the header's), and the image's findings as an ia32 image (paths under
 * fpstate/fxsave).
 */
export function checkIa32Fpstate(fp: Ia32Fpstate, opts: CheckOptions = {}): Finding[] {
  const out: Finding[] = [];
  const magic = Number(fp.fsave.magic);
  if (magic === 0xffff) {
    out.push({
      code: "fsave-only",
      severity: "warning",
      path: "fpstate/fsave/magic",
      message:
        "magic 0xffff: an FSAVE-only area with no FXSAVE image; on an FXSR CPU sigreturn still reads 512 bytes at fpstate + 112",
    });
  } else if (magic !== X86_FXSR_MAGIC) {
    out.push({
      code: "fsave-magic",
      severity: "info",
      path: "fpstate/fsave/magic",
      message: `magic is ${hex(magic)}, not X86_FXSR_MAGIC 0 as the kernel writes it (sigreturn does not read it)`,
    });
  }
  if (!fp.fx) return out;
  if (!x87Agrees(fp)) {
    out.push({
      code: "x87-image-differs",
      severity: "info",
      path: "fpstate/fsave",
      message:
        "the image's x87 registers differ from the FSAVE header's: ia32 sigreturn takes x87 from the header (convert_to_fxsr()) and ignores the image's",
    });
  }
  const o: CheckOptions = { ...opts, ia32: true };
  delete o.address;
  for (const f of checkFpstate(fp.fx, o)) {
    out.push({ ...f, path: f.path.replace(/^fpstate/, "fpstate/fxsave") });
  }
  return out;
}

export function checkIa32Frame(img: Ia32SigframeImage, opts: CheckOptions = {}): Finding[] {
  const out: Finding[] = [];
  const f = img.frame;
  const mcPath = f.kind === "rt" ? "frame/uc/uc_mcontext" : "frame/sc";
  const ptr = f.mcontext.fpstate;
  if (ptr === 0n) {
    out.push({
      code: "fpstate-null",
      severity: "info",
      path: `${mcPath}/fpstate`,
      message: "fpstate is NULL: sigreturn resets every user FPU register to init",
    });
  } else if (!img.fpstate) {
    out.push({
      code: "fpstate-outside-input",
      severity: "warning",
      path: `${mcPath}/fpstate`,
      message:
        img.baseSource === "none"
          ? `fpstate ${hex(ptr)} cannot be located without --base`
          : `fpstate ${hex(ptr)} lies outside the input (base ${hex(img.base)}, ${img.size} bytes)`,
    });
  }
  const want = f.kind === "rt" ? IA32_RT_RETCODE : IA32_RETCODE;
  if (f.retcode !== want) {
    out.push({
      code: "retcode-differs",
      severity: "info",
      path: "frame/retcode",
      message: `retcode is ${hex(f.retcode)}, not the kernel's ${hex(want)} (unused by the kernel; gdb looks for it)`,
    });
  }
  if (img.fpstate?.fx && f.uc) {
    const xsaveFrame = img.fpstate.fx.sw.magic1 === FP_XSTATE_MAGIC1;
    if (((f.uc.uc_flags & UC_FP_XSTATE) !== 0n) !== xsaveFrame) {
      out.push({
        code: "uc-flags-fp-xstate",
        severity: "info",
        path: "frame/uc/uc_flags",
        message: `UC_FP_XSTATE is ${xsaveFrame ? "clear" : "set"} but magic1 says ${xsaveFrame ? "XSAVE" : "legacy"} (sigreturn ignores the flag)`,
      });
    }
  }
  if (img.fpstate) out.push(...checkIa32Fpstate(img.fpstate, opts));
  return out;
}
