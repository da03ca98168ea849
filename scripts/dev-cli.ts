// Runs the CLI from the TypeScript sources (no build needed): `node --import tsx scripts/dev-cli.ts …`.
import { processIo } from "../src/cli/context.ts";
import { run } from "../src/cli/main.ts";

process.exitCode = await run(process.argv.slice(2), processIo());
