#!/usr/bin/env node
// Entry point of the `sigframe` command: the CLI bundle that `npm install` builds from src/
// (scripts/build-cli.mjs).
import "../dist/bundle/sigframe.js";
