/** Option parsing shared by commands: values fail as usage errors naming the option. */
import { UsageError } from "../core/errors.ts";
import { parseSize, parseU64 } from "../core/hex.ts";
import { type KernelVersion, parseKernelVersion } from "../core/kernel.ts";

export function kernelOption(text: string | undefined): KernelVersion | undefined {
  if (text === undefined) return undefined;
  try {
    return parseKernelVersion(text);
  } catch (e) {
    throw new UsageError((e as Error).message, { input: "--kernel" });
  }
}

export function u64Option(text: string | undefined, name: string): bigint | undefined {
  if (text === undefined) return undefined;
  try {
    return parseU64(text, name);
  } catch (e) {
    throw new UsageError((e as Error).message, { input: name });
  }
}

export function sizeOption(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSize(text, name);
  } catch (e) {
    throw new UsageError((e as Error).message, { input: name });
  }
}

/** Exactly one of the output formats may be chosen. */
export function oneFormat(opts: Record<string, unknown>, names: string[]): void {
  const chosen = names.filter((n) => opts[n]);
  if (chosen.length > 1) throw new UsageError(`choose one of ${chosen.map((n) => `--${n}`).join(", ")}`);
}
