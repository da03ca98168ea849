/**
 * How large XSAVE state can be, from the architecture rather than from the input: a CPUID(0xD)
 * sub-leaf, a profile or a note that claims more is not a CPU, and is refused before anything is
 * sized by it.
 *
 * The largest standard-format area any x86 CPU reports is 11008 bytes (Intel with AMX: tile data
 * at 2816, 8192 bytes; every dump of the cpuid corpus, 2008–2025, ends at or below it). Linux keeps
 * the sizes in `unsigned int` (arch/x86/kernel/fpu/xstate.c, v6.18: xstate_sizes[], xstate_offsets[],
 * fpu_user_cfg.max_size) and checks a component's size only against its C struct, with a warning
 * (XCHECK_SZ): AMD Zen 2 reports PKRU as 64 bytes, so a size that differs from the architectural
 * one is a warning here too, while a component or area past MAX_XSAVE_SIZE, or a user component
 * inside the legacy area and XSAVE header (below byte 576, SDM vol. 1 §13.4), is invalid data.
 */
import type { CpuidLeaf } from "../cpuid/cpuid.ts";
import { componentInfo, MIN_XSTATE_SIZE } from "./components.ts";

/**
 * Upper bound for a standard-format XSAVE area and any component in it: about six times the
 * largest area of any CPU (11008 bytes), room for components yet to come.
 */
export const MAX_XSAVE_SIZE = 64 * 1024;

/** XSAVE components are numbered by XCR0 / IA32_XSS bits: sub-leaves 2..63 of CPUID(0xD). */
const LAST_COMPONENT = 63;

/**
 * What is impossible about a CPUID(0xD) leaf, or undefined: the areas of sub-leaves 0 and 1
 * (EBX, ECX) and each component's size and standard-format offset (EAX, EBX of sub-leaves 2..63).
 * The answer names the register, for the error's field path.
 */
export function xsaveLeafProblem(l: CpuidLeaf): { reg: "eax" | "ebx" | "ecx"; what: string } | undefined {
  if (l.leaf >>> 0 !== 0xd) return undefined;
  const sub = l.subleaf >>> 0;
  const over = (v: number) => v >>> 0 > MAX_XSAVE_SIZE;
  const tooBig = (v: number, what: string) =>
    `CPUID(0xD,${sub}) ${what} is ${v >>> 0} bytes; no CPU has an XSAVE area over ${MAX_XSAVE_SIZE}`;
  if (sub === 0) {
    if (over(l.ebx)) return { reg: "ebx", what: tooBig(l.ebx, "EBX (XSAVE area size for XCR0)") };
    if (over(l.ecx)) return { reg: "ecx", what: tooBig(l.ecx, "ECX (largest XSAVE area)") };
    return undefined;
  }
  if (sub === 1) {
    if (over(l.ebx)) return { reg: "ebx", what: tooBig(l.ebx, "EBX (XSAVES area size)") };
    return undefined;
  }
  if (sub > LAST_COMPONENT) return undefined;
  const name = componentInfo(sub).name;
  const size = l.eax >>> 0;
  const offset = l.ebx >>> 0;
  if (size > MAX_XSAVE_SIZE)
    return {
      reg: "eax",
      what: `CPUID(0xD,${sub}).EAX: ${name} is ${size} bytes; no XSAVE component is over ${MAX_XSAVE_SIZE}`,
    };
  // Supervisor components (ECX bit 0) have no standard-format offset: they report 0.
  if (size > 0 && offset < MIN_XSTATE_SIZE && ((l.ecx & 1) === 0 || offset !== 0))
    return {
      reg: "ebx",
      what: `CPUID(0xD,${sub}).EBX: ${name} at offset ${offset} overlaps the legacy area and the XSAVE header (extended components start at ${MIN_XSTATE_SIZE})`,
    };
  // Supervisor components report offset 0; one that claims an offset is held to the same bound
  // (a user component whose sub-leaf sets the supervisor bit is still placed at its EBX).
  if (offset + size > MAX_XSAVE_SIZE)
    return {
      reg: "ebx",
      what: `CPUID(0xD,${sub}).EBX: ${name} at offset ${offset} (${size} bytes) ends past ${MAX_XSAVE_SIZE}, beyond any XSAVE area`,
    };
  return undefined;
}
