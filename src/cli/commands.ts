/** Every command registers here, one line each. */
import type { Command } from "commander";
import { register as baseline } from "./baseline.ts";
import { register as build } from "./build.ts";
import { register as check } from "./check.ts";
import type { CliContext } from "./context.ts";
import { register as criu } from "./criu.ts";
import { register as host } from "./host.ts";
import { register as inspect } from "./inspect.ts";
import { register as layout } from "./layout.ts";
import { register as matrix } from "./matrix.ts";
import { register as policyDiff } from "./policy-diff.ts";
import { register as predict } from "./predict.ts";
import { register as probe } from "./probe.ts";
import { register as scan } from "./scan.ts";
import { register as serve } from "./serve.ts";
import { register as translate } from "./translate.ts";

type Register = (program: Command, ctx: CliContext) => void;

const registry: Register[] = [
  layout,
  criu,
  scan,
  check,
  baseline,
  matrix,
  policyDiff,
  host,
  probe,
  predict,
  build,
  inspect,
  serve,
  translate,
];

export function registerCommands(program: Command, ctx: CliContext): void {
  for (const r of registry) r(program, ctx);
}
