/**
 * The `sigframe` process: what the CLI bundle is built from (scripts/build-cli.mjs) and what
 * `bin/sigframe.js` loads. The command runner loads only the module of the command it runs.
 * No top-level await: the bundle is CommonJS, so that bin/sigframe.js can load it with V8's code
 * cache (bin/bundle-loader.js).
 */
import { processIo } from "../node/process-io.ts";
import { run } from "./main.ts";

run(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
