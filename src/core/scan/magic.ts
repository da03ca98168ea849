/**
 * The search for FP_XSTATE_MAGIC1 (0x46505853, the bytes "SXPF") that every scan path shares:
 * random-access images (CRIU pages, ELF segments, raw files) hand it large pieces of a buffer they
 * reuse, streams (archives, compressed cores) hand it their window. No per-byte JavaScript:
 *
 * - Aligned (the default): the kernel puts fpstate on a 64-byte boundary (fpu__alloc_mathframe()),
 *   so magic1 at fpstate+464 can only sit at addresses ≡ 16 mod 64; one dword in every 64 bytes is
 *   compared.
 * - Every alignment (`--all`): a substring search. Node's `Buffer.prototype.indexOf` is one (memchr
 *   for the first byte, then a compare) and takes any Uint8Array; where there is no Buffer (a
 *   browser) the engine's element search finds the first byte.
 */
import { FP_XSTATE_MAGIC1 } from "../xsave/components.ts";
import { MAGIC1_ALIGN_REMAINDER } from "./geometry.ts";

const B0 = FP_XSTATE_MAGIC1 & 0xff;
const B1 = (FP_XSTATE_MAGIC1 >>> 8) & 0xff;
const B2 = (FP_XSTATE_MAGIC1 >>> 16) & 0xff;
const B3 = FP_XSTATE_MAGIC1 >>> 24;
const NEEDLE = new Uint8Array([B0, B1, B2, B3]);

/** A substring search over any Uint8Array (`search` of findMagic1: undefined = element search). */
export type SubstringIndexOf = (this: Uint8Array, needle: Uint8Array, from: number) => number;

/** Node's substring search, found at run time (core is compiled without Node's types). */
const substringIndexOf = (globalThis as { Buffer?: { prototype: { indexOf: SubstringIndexOf } } }).Buffer
  ?.prototype.indexOf;

/** The first offset ≥ `from` whose address is where magic1 can sit (`addr` is bytes[from]'s address). */
export function firstAligned(from: number, addr: bigint): number {
  const mod = Number(((addr % 64n) + 64n) % 64n);
  return from + ((MAGIC1_ALIGN_REMAINDER - mod + 64) % 64);
}

/**
 * Appends to `out` the offsets i, ascending, of magic1 in bytes[from, end) (all four bytes inside).
 * With `alignedFrom` (`firstAligned(from, …)`), only alignedFrom, alignedFrom + 64, … are looked at.
 */
export function findMagic1(
  bytes: Uint8Array,
  from: number,
  end: number,
  out: number[],
  alignedFrom?: number,
  search: SubstringIndexOf | undefined = substringIndexOf,
): void {
  const last = Math.min(end, bytes.length) - 4;
  if (alignedFrom !== undefined) {
    for (let i = alignedFrom; i <= last; i += 64) {
      if (bytes[i] === B0 && bytes[i + 1] === B1 && bytes[i + 2] === B2 && bytes[i + 3] === B3) out.push(i);
    }
    return;
  }
  if (search) {
    for (let i = search.call(bytes, NEEDLE, from); i >= 0 && i <= last; i = search.call(bytes, NEEDLE, i + 1))
      out.push(i);
    return;
  }
  for (let i = bytes.indexOf(B0, from); i >= 0 && i <= last; i = bytes.indexOf(B0, i + 1)) {
    if (bytes[i + 1] === B1 && bytes[i + 2] === B2 && bytes[i + 3] === B3) out.push(i);
  }
}
