/**
 * Option values as typed by a user (command line or form field): a bad value fails as a usage
 * error naming the option, e.g. `--kernel`. `undefined` means the option was not given.
 */
import { UsageError } from "./errors.ts";
import { parseSize, parseU64 } from "./hex.ts";
import { type KernelVersion, parseKernelVersion } from "./kernel.ts";
import { xcr0Problem } from "./xsave/xcr0.ts";

function asOption<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    // The parser names the field too: the line says it once (`--xcr0: larger than 64 bits`).
    const m = (e as Error).message;
    throw new UsageError(m.startsWith(`${name}: `) ? m.slice(name.length + 2) : m, { input: name });
  }
}

/** `--kernel K`: a Linux release X.Y[.Z][-rcN]. */
export function kernelOption(text: string | undefined): KernelVersion | undefined {
  return text === undefined ? undefined : asOption("--kernel", () => parseKernelVersion(text));
}

/** A 64-bit value (`--base`, `--xcr0`, `--uses` …). */
export function u64Option(text: string | undefined, name: string): bigint | undefined {
  return text === undefined ? undefined : asOption(name, () => parseU64(text, name));
}

/** `--xcr0 MASK`: a value XSETBV would take on x86-64 Linux (x87 and SSE set, pairs whole). */
export function xcr0Option(text: string | undefined): bigint | undefined {
  const x = u64Option(text, "--xcr0");
  if (x === undefined) return undefined;
  const why = xcr0Problem(x);
  if (why) throw new UsageError(why, { input: "--xcr0" });
  return x;
}

/** A byte count or index (`--readable-bytes`, `--cpu-index` …). */
export function sizeOption(text: string | undefined, name: string): number | undefined {
  return text === undefined ? undefined : asOption(name, () => parseSize(text, name));
}

/** A form field's text as an option value: blank means not given. */
export function fieldValue(text: string | undefined): string | undefined {
  const t = text?.trim() ?? "";
  return t === "" ? undefined : t;
}
