#!/usr/bin/env node
// Entry point of the `sigframe` command. The TypeScript sources are compiled to dist/ by `npm install`.
import { processIo } from "../dist/cli/context.js";
import { run } from "../dist/cli/main.js";

const code = await run(process.argv.slice(2), processIo());
process.exitCode = code;
