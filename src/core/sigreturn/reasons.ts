/**
 * The stable reason codes of a prediction, with the kernel source of the rule each one stands
 * for. docs/policies.md lists them; tests check that every code used is listed here.
 */
export interface ReasonInfo {
  /** What the code means, one line. */
  summary: string;
  /** Kernel source citation (path, function, version or commit). */
  source: string;
}

const SIG = "arch/x86/kernel/fpu/signal.c";
const XSTATE = "arch/x86/kernel/fpu/xstate.c";
const CHECK_CLASSIC = `${SIG} check_xstate_in_sigframe() (v5.14–v6.14; v7.1-rc6+ and stable trees via revert 44eeff9bc467)`;
const CHECK_REFINED = `${SIG} check_xstate_in_sigframe() as changed by dc8aa31a7ac2 (v6.15–v7.1-rc5)`;
const CHECK_LEGACY = `${SIG} check_for_xstate() (v4.2–v5.13)`;
const RESTORE = `${SIG} restore_fpregs_from_user() / __restore_fpregs_from_user() (v5.14+; RFBM masked with user_xfeatures since d877550eaf2d, v6.8)`;
const RESTORE_LEGACY = `${SIG} copy_user_to_fpregs_zeroing() (v4.2–v5.13)`;
const SDM_XRSTOR = "Intel SDM vol. 1 §13.8 (XRSTOR) and vol. 2 XRSTOR exceptions";

export const REASONS = {
  "null-fpstate": {
    summary: "uc_mcontext.fpstate is NULL: every user FPU register is reset to init, no signal",
    source: `${SIG} fpu__restore_sig(): if (!buf) fpu__clear_user_states() (v5.14+; fpu__clear() before)`,
  },
  "no-xsave": {
    summary: "the CPU does not use XSAVE: the software bytes are ignored and FXRSTOR restores x87/SSE",
    source: `${SIG} __fpu_restore_sig(): user_xfeatures = XFEATURE_MASK_FPSSE when !use_xsave()`,
  },
  "sw-bytes-unreadable": {
    summary: "the _fpx_sw_bytes at fpstate+464 cannot be read",
    source: `${CHECK_CLASSIC}: __copy_from_user(fx_sw, …) fails → return false (legacy: FX-only)`,
  },
  "magic1-mismatch": {
    summary: "sw_bytes.magic1 is not FP_XSTATE_MAGIC1 (0x46505853): FX-only",
    source: `${CHECK_CLASSIC}; same in ${CHECK_REFINED}`,
  },
  "xstate-size-below-minimum": {
    summary: "sw_bytes.xstate_size < 576 (legacy region + XSAVE header): FX-only",
    source: `${CHECK_CLASSIC}: fx_sw->xstate_size < min_xstate_size`,
  },
  "xstate-size-above-user-size": {
    summary: "sw_bytes.xstate_size > the receiving task's user_size: FX-only",
    source: `${CHECK_CLASSIC}: fx_sw->xstate_size > fpstate->user_size`,
  },
  "xstate-size-above-extended-size": {
    summary: "sw_bytes.xstate_size > sw_bytes.extended_size: FX-only",
    source: `${CHECK_CLASSIC}: fx_sw->xstate_size > fx_sw->extended_size`,
  },
  "magic2-unreadable": {
    summary: "the u32 where the policy looks for magic2 cannot be read (SIGSEGV; legacy: FX-only)",
    source: `${CHECK_CLASSIC}: __get_user(magic2, …) fails → return false`,
  },
  "magic2-mismatch": {
    summary: "no FP_XSTATE_MAGIC2 (0x46505845) where the policy looks for it: FX-only",
    source: `${CHECK_CLASSIC} (at fpstate + xstate_size); ${CHECK_REFINED} (at fpstate + user_size)`,
  },
  "fpstate-misaligned": {
    summary: "legacy kernels restore a fpstate that is not 64-byte aligned with FXRSTOR (FX-only)",
    source: `${RESTORE_LEGACY}: if (buf % 64 || fx_only) → copy_user_to_fxregs()`,
  },
  "xrstor-full": {
    summary: "XRSTOR loads every component of the task from the frame",
    source: `${RESTORE}; ${SDM_XRSTOR}`,
  },
  "xfeatures-partial": {
    summary: "components the task has but sw_bytes.xfeatures lacks are set to init",
    source: `${RESTORE}: init_bv = user_xfeatures & ~xrestore → os_xrstor(&init_fpstate, init_bv)`,
  },
  "xstate-bv-init": {
    summary: "components whose XSTATE_BV bit is clear are set to init by XRSTOR",
    source: `${SDM_XRSTOR}: RFBM[i]=1, XSTATE_BV[i]=0 → component i initialised`,
  },
  "xrstor-compacted": {
    summary:
      "XCOMP_BV[63] set: XRSTOR reads the frame in the compacted form (not checked on the 64-bit path)",
    source: `${RESTORE} (no header validation on the 64-bit path); ${SDM_XRSTOR} compacted form`,
  },
  "xrstor-gp-alignment": {
    summary: "XRSTOR needs a 64-byte aligned fpstate: #GP → SIGSEGV",
    source: `${RESTORE}: trap other than #PF → return false → signal_fault(); ${SDM_XRSTOR}`,
  },
  "xrstor-gp-xstate-bv": {
    summary: "XSTATE_BV sets a bit outside XCR0 (or outside XCOMP_BV in the compacted form): #GP → SIGSEGV",
    source: `${RESTORE}; ${SDM_XRSTOR}`,
  },
  "xrstor-gp-xcomp-bv": {
    summary: "XCOMP_BV is neither 0 nor a valid compacted-form value for this CPU: #GP → SIGSEGV",
    source: `${RESTORE}; ${SDM_XRSTOR}`,
  },
  "xrstor-gp-header-reserved": {
    summary: "XSAVE header bytes 16..23 (standard form) or 16..63 (compacted form) not zero: #GP → SIGSEGV",
    source: `${RESTORE}; ${SDM_XRSTOR}; tools/testing/selftests/x86/corrupt_xstate_header.c`,
  },
  "xrstor-gp-mxcsr": {
    summary: "MXCSR sets bits outside MXCSR_MASK while XRSTOR loads it: #GP → SIGSEGV",
    source: `${RESTORE}; ${SDM_XRSTOR}`,
  },
  "xrstor-fault": {
    summary: "XRSTOR reads bytes that are not mapped; fault-in of user_size fails: SIGSEGV",
    source: `${RESTORE}: fault_in_readable(buf, fpstate->user_size) fails → return false (d877550eaf2d, v6.8)`,
  },
  "fxrstor-gp-alignment": {
    summary: "FXRSTOR needs a 16-byte aligned fpstate: #GP → SIGSEGV",
    source: `${RESTORE}: fxrstor_from_user_sigframe() trap → return false`,
  },
  "fxrstor-gp-mxcsr": {
    summary: "MXCSR sets bits outside MXCSR_MASK; FXRSTOR always loads it: #GP → SIGSEGV",
    source: `${RESTORE}: fxrstor_from_user_sigframe() trap → return false`,
  },
  "fxrstor-fault": {
    summary: "the 512-byte legacy region is not mapped: SIGSEGV",
    source: `${RESTORE}: fault_in_readable() fails → return false`,
  },
  "ia32-fsave-fault": {
    summary: "ia32: the 112-byte FSAVE header at the fpstate cannot be read: SIGSEGV",
    source: `${SIG} __fpu_restore_sig(): __copy_from_user(&env, buf, sizeof(env)) fails → return false (v5.14+)`,
  },
  "ia32-copy-fault": {
    summary:
      "ia32: a copy from the image at fpstate + 112 faults (XSAVE header, MXCSR, a component, or the 512-byte FX-only image): SIGSEGV",
    source: `${XSTATE} copy_uabi_to_xstate(): copy_from_user() → -EFAULT; ${SIG} __fpu_restore_sig(): __copy_from_user(&fpregs->fxsave, buf_fx, 512) fails → return false`,
  },
  "ia32-header-xfeatures": {
    summary: "ia32: XSTATE_BV sets bits outside the task's user_xfeatures: -EINVAL → SIGSEGV",
    source: `${XSTATE} validate_user_xstate_header(): hdr->xfeatures & ~fpstate->user_xfeatures`,
  },
  "ia32-header-xcomp-bv": {
    summary: "ia32: XCOMP_BV is not 0 (the compacted form included): -EINVAL → SIGSEGV",
    source: `${XSTATE} validate_user_xstate_header(): "Userspace must use the uncompacted format"`,
  },
  "ia32-header-reserved": {
    summary: "ia32: XSAVE header bytes 16..63 are not all zero: -EINVAL → SIGSEGV",
    source: `${XSTATE} validate_user_xstate_header(): memchr_inv(hdr->reserved, 0, 48)`,
  },
  "ia32-mxcsr": {
    summary:
      "ia32: MXCSR sets bits outside MXCSR_MASK, checked when XSTATE_BV has x87, SSE or YMM (always on the FX-only copy): SIGSEGV",
    source: `${XSTATE} copy_uabi_to_xstate(): mxcsr & ~mxcsr_feature_mask → -EINVAL; ${SIG} __fpu_restore_sig(): "Reject invalid MXCSR values" (x86-64)`,
  },
  "ia32-xstate-full": {
    summary:
      "ia32: copy_uabi_to_xstate() takes every task component from the frame (x87 from the FSAVE header)",
    source: `${SIG} __fpu_restore_sig() ia32 path: copy_sigframe_from_user_to_xstate(), convert_to_fxsr(), os_xrstor_safe(); ${XSTATE} copy_uabi_to_xstate()`,
  },
  "ia32-xstate-partial": {
    summary:
      "ia32: components with XSTATE_BV clear or missing from sw.xfeatures are set to init, the rest come from the frame",
    source: `${SIG} __fpu_restore_sig() ia32 path: header.xfeatures &= user_xfeatures | supervisor, then os_xrstor_safe(); ${XSTATE} copy_uabi_to_xstate()`,
  },
  "pkru-locks-key0": {
    summary:
      "sigreturn loads a PKRU that sets access- or write-disable for protection key 0: the task's next data access (or write) faults, SIGSEGV with si_code SEGV_PKUERR (4)",
    source: `${RESTORE} loads PKRU with the rest of the frame (component 9; ia32: copy_uabi_to_xstate()); arch/x86/mm/fault.c do_user_addr_fault() → SEGV_PKUERR; before v6.12 (d10b554919d4, "x86/pkeys: Restore altstack access in sigreturn()") restore_altstack() read uc_stack after the PKRU load, so rt_sigreturn itself failed (SIGSEGV, SI_KERNEL)`,
  },
} as const satisfies Record<string, ReasonInfo>;

export type ReasonCode = keyof typeof REASONS;

export const POLICY_CHECK_SOURCE = {
  legacy: CHECK_LEGACY,
  classic: CHECK_CLASSIC,
  refined: CHECK_REFINED,
} as const;
