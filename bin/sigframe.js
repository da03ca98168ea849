#!/bin/sh
':' //; [ -z "${NODE_EXTRA_CA_CERTS+x}" ] || { SIGFRAME_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export SIGFRAME_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; }
':' //; exec node "$0" "$@"
// Entry point of the `sigframe` command. The lines above are for sh, which runs this file when it
// is started as a command (its own `#!`, npm's bin link, npx): they start node on this same file
// without NODE_EXTRA_CA_CERTS. Node loads and parses that file of certificates when a process
// starts, whatever the process does (about 40 ms of CPU for a distribution's bundle, more than
// twice what node needs to start without it); sigframe makes no TLS connection, so it never needs
// extra certificates. The variable is kept in SIGFRAME_NODE_EXTRA_CA_CERTS and put back below, so
// the programs sigframe starts (QEMU, runsc, the native helper) see the environment as given. For
// node, the sh lines are string statements followed by comments.
//
// This launcher is CommonJS (bin/package.json): `--version` is answered from package.json before
// anything else loads, and everything else loads the CLI bundle that `npm install` builds from src/
// (scripts/build-cli.mjs, dist/bundle/) through bin/bundle-loader.js, with V8's code cache.
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
  const env = process.env;
  if (env.SIGFRAME_NODE_EXTRA_CA_CERTS !== undefined) {
    env.NODE_EXTRA_CA_CERTS = env.SIGFRAME_NODE_EXTRA_CA_CERTS;
    delete env.SIGFRAME_NODE_EXTRA_CA_CERTS;
  }
  const { join } = require("node:path");
  const { BundleLoader } = require("./bundle-loader.js");
  const bundle = join(__dirname, "..", "dist", "bundle");
  const loader = new BundleLoader(bundle);
  let entry;
  try {
    entry = require("node:fs").statSync(join(bundle, "sigframe.js"));
  } catch {}
  if (entry?.isFile()) loader.load(join(bundle, "sigframe.js"));
  else {
    // An install without its build step (--ignore-scripts): say so in the contract's one line.
    process.stderr.write("sigframe: dist/bundle/sigframe.js: the CLI is not built: run 'npm run build'\n");
    process.exitCode = 4;
  }
}
