/** Every command registers here, one line each. */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import { register as criu } from "./criu.ts";
import { register as layout } from "./layout.ts";

type Register = (program: Command, ctx: CliContext) => void;

const registry: Register[] = [layout, criu];

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registry) r(program, ctx);
}
