/** Every command registers here, one line each. */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";

type Register = (program: Command, ctx: CliContext) => void;

const registry: Register[] = [];

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registry) r(program, ctx);
}
