/**
 * The `sigframe` process: what the CLI bundle is built from (scripts/build-cli.mjs) and what
 * `bin/sigframe.js` loads. The command runner loads only the module of the command it runs.
 */
import { processIo } from "./context.ts";
import { run } from "./main.ts";

process.exitCode = await run(process.argv.slice(2), processIo());
