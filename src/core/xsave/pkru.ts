/**
 * Protection-key rights (PKRU, XSAVE component 9): two bits per key, access-disable (AD, bit 2k)
 * and write-disable (WD, bit 2k+1). Key 0 is the key of every page no pkey_mprotect() moved to
 * another key (the stack, the heap, the code's data): a PKRU that sets AD0 or WD0 makes the task's
 * next data access (AD) or write (WD) to ordinary memory fault with SIGSEGV, si_code SEGV_PKUERR,
 * si_pkey 0. Instruction fetches are not checked. (Intel SDM vol. 3A §4.6.2; Linux
 * arch/x86/mm/fault.c, do_user_addr_fault() → bad_area_access_error() → SEGV_PKUERR.)
 *
 * Linux never gives a task such a value: its default is 0x55555554 (every key but 0 access-
 * disabled, arch/x86/mm/pkeys.c init_pkru_value), and pkey_alloc() hands out keys 1..15. A frame
 * that carries one was built or edited by someone, or its PKRU bytes were read from the wrong
 * place.
 */
import { hex } from "../hex.ts";

/** include/uapi/asm-generic/siginfo.h */
export const SEGV_PKUERR = 4;
/** Linux's default PKRU for a new task (init_pkru_value): key 0 open, 1..15 access-disabled. */
export const PKRU_LINUX_DEFAULT = 0x55555554;

/** How a PKRU value restricts key 0: access (AD0), write (WD0), or not at all. */
export function pkruKey0(pkru: number): "access" | "write" | undefined {
  if (pkru & 1) return "access";
  if (pkru & 2) return "write";
  return undefined;
}

/** What a PKRU that locks key 0 does, one clause (for predictions and warnings). */
export function pkruKey0Words(pkru: number): string {
  const k = pkruKey0(pkru);
  if (!k) return `PKRU ${hex(pkru)} leaves protection key 0 open`;
  return k === "access"
    ? `PKRU ${hex(pkru)} sets access-disable for protection key 0 (bit 0), the key of all ordinary memory: the task's next data access faults with SIGSEGV, si_code SEGV_PKUERR (${SEGV_PKUERR})`
    : `PKRU ${hex(pkru)} sets write-disable for protection key 0 (bit 1), the key of all ordinary memory: the task's next write (a push, a store to its stack) faults with SIGSEGV, si_code SEGV_PKUERR (${SEGV_PKUERR})`;
}
