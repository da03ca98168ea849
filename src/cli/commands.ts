/**
 * Every command, by name, with the module that registers it. Only the module of the command being
 * run is loaded (start-up time); help without a command name loads them all.
 */
import type { Command } from "commander";
import type { CliContext } from "./context.ts";

type Register = (program: Command, ctx: CliContext) => void;
type Loader = () => Promise<{ register: Register }>;

const layout: Loader = () => import("./layout.ts");
const inspect: Loader = () => import("./inspect.ts");
const build: Loader = () => import("./build.ts");
const predict: Loader = () => import("./predict.ts");
const host: Loader = () => import("./host.ts");
const probe: Loader = () => import("./probe.ts");
const abiTest: Loader = () => import("./abi-test.ts");
const check: Loader = () => import("./check.ts");
const baseline: Loader = () => import("./baseline.ts");
const matrix: Loader = () => import("./matrix.ts");
const policyDiff: Loader = () => import("./policy-diff.ts");
const scan: Loader = () => import("./scan.ts");
const criu: Loader = () => import("./criu.ts");
const translate: Loader = () => import("./translate.ts");
const serve: Loader = () => import("./serve.ts");

/** The order of `sigframe --help`. */
const ALL: Loader[] = [
  layout,
  inspect,
  build,
  predict,
  host,
  probe,
  abiTest,
  check,
  baseline,
  matrix,
  policyDiff,
  scan,
  criu,
  translate,
  serve,
];

/** Command name → the module that registers it. */
const BY_NAME: Record<string, Loader[]> = {
  profiles: [layout],
  layout: [layout],
  diff: [layout],
  inspect: [inspect],
  build: [build],
  predict: [predict],
  host: [host],
  probe: [probe],
  "abi-test": [abiTest],
  check: [check],
  baseline: [baseline],
  matrix: [matrix],
  "policy-diff": [policyDiff],
  scan: [scan],
  criu: [criu],
  translate: [translate],
  serve: [serve],
};

/** The command named by `argv` (`help X` names X), if any. */
function commandName(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

export async function registerCommands(
  program: Command,
  ctx: CliContext,
  argv: readonly string[],
): Promise<void> {
  const name = commandName(argv);
  // `sigframe --version` needs no command at all.
  if (name === undefined && (argv.includes("-V") || argv.includes("--version"))) return;
  const loaders = (name !== undefined && Object.hasOwn(BY_NAME, name) ? BY_NAME[name]! : ALL).filter(
    (l, i, a) => a.indexOf(l) === i,
  );
  // The help listing keeps the ALL order whatever subset is loaded.
  const ordered = ALL.filter((l) => loaders.includes(l));
  for (const mod of await Promise.all(ordered.map((l) => l()))) mod.register(program, ctx);
}
