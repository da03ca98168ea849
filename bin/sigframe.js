#!/usr/bin/env node
// Entry point of the `sigframe` command: loads the CLI bundle that `npm install` builds from src/
// (scripts/build-cli.mjs, dist/bundle/). This launcher is CommonJS (bin/package.json), so that
// `--version` is answered from package.json before Node's ES module loader or the process's
// stdout stream is set up: either costs more than the whole answer.
"use strict";
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  const line = `${require("../package.json").version}\n`;
  try {
    require("node:fs").writeSync(1, line);
  } catch {
    process.stdout.write(line);
  }
} else {
  import("../dist/bundle/sigframe.js").catch((e) => {
    // An install without its build step (--ignore-scripts): say so in the contract's one line.
    if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/bundle/sigframe.js")) throw e;
    process.stderr.write("sigframe: dist/bundle/sigframe.js: the CLI is not built: run 'npm run build'\n");
    process.exitCode = 4;
  });
}
