/** Every command registers here, one line each. */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import { register as layout } from "./layout.ts";

type Register = (program: Command, ctx: CliContext) => void;

const registry: Register[] = [layout];

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registry) r(program, ctx);
}
