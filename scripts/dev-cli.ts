// Runs the CLI from the TypeScript sources (no build needed): `node --import tsx scripts/dev-cli.ts …`.
import "../src/cli/bin.ts";
