/**
 * The `sigframe` process: what the CLI bundle is built from (scripts/build-cli.mjs) and what
 * `bin/sigframe.js` loads. `--version` is answered before anything else is loaded; every other
 * invocation loads the command runner, which loads only the module of the command it runs.
 */
import { VERSION } from "./version.ts";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const [{ run }, { processIo }] = await Promise.all([import("./main.ts"), import("./context.ts")]);
  process.exitCode = await run(argv, processIo());
}
