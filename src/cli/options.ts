/** Option parsing shared by commands: values fail as usage errors naming the option. */
import { UsageError } from "../core/errors.ts";

export { kernelOption, sizeOption, u64Option, xcr0Option } from "../core/options.ts";

/** Exactly one of the output formats may be chosen. */
export function oneFormat(opts: Record<string, unknown>, names: string[]): void {
  const chosen = names.filter((n) => opts[n]);
  if (chosen.length > 1) throw new UsageError(`choose one of ${chosen.map((n) => `--${n}`).join(", ")}`);
}
