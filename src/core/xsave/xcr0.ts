/**
 * What an XCR0 value can be. XSETBV raises #GP for a value that breaks the architecture's pairing
 * rules (the same checks KVM applies to a guest's XSETBV: arch/x86/kvm/x86.c __kvm_set_xcr(),
 * v6.18), and x86-64 Linux always enables x87 and SSE (XFEATURE_MASK_FPSSE in
 * fpu__init_system_xstate()). A forced `--xcr0` that no CPU could hold is a usage error.
 */
import { bitsOf, hex } from "../hex.ts";
import { COMPONENTS, componentInfo } from "./components.ts";

const USER_BITS = COMPONENTS.filter((c) => !c.supervisor).reduce((m, c) => m | (1n << BigInt(c.bit)), 0n);
const AVX512 = 0xe0n;
const MPX = 0x18n;
const AMX = 0x60000n;

/** Why `xcr0` cannot be an XCR0 of x86-64 Linux, or undefined when it can. */
export function xcr0Problem(xcr0: bigint): string | undefined {
  const foreign = bitsOf(xcr0 & ~USER_BITS);
  if (foreign.length) {
    const names = foreign.map((b) => {
      const c = componentInfo(b);
      return c.supervisor ? `${b} (${c.name}, a supervisor component: IA32_XSS, never XCR0)` : String(b);
    });
    return `${hex(xcr0)} sets bit${foreign.length > 1 ? "s" : ""} ${names.join(", ")}, which no XCR0 holds (XSETBV #GP)`;
  }
  if ((xcr0 & 1n) === 0n) return `${hex(xcr0)} lacks bit 0 (x87), which XCR0 must always have (XSETBV #GP)`;
  if ((xcr0 & 2n) === 0n)
    return `${hex(xcr0)} lacks bit 1 (SSE): x86-64 Linux always enables x87 and SSE (XFEATURE_MASK_FPSSE), so XCR0 has at least 0x3`;
  const pair = (mask: bigint, what: string) =>
    (xcr0 & mask) !== 0n && (xcr0 & mask) !== mask
      ? `${hex(xcr0)} sets only part of ${what} (bits ${bitsOf(mask).join(", ")}): they are enabled together or not at all (XSETBV #GP)`
      : undefined;
  const partial = pair(MPX, "MPX") ?? pair(AVX512, "AVX-512") ?? pair(AMX, "AMX");
  if (partial) return partial;
  if ((xcr0 & AVX512) !== 0n && (xcr0 & 4n) === 0n)
    return `${hex(xcr0)} enables AVX-512 without YMM (bit 2) (XSETBV #GP)`;
  return undefined;
}
