/** Runs the `sigframe` command in-process, as the tests drive it: exit code, stdout, stderr. */
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";

export interface CliRun {
  code: number;
  /** Text written to stdout. */
  out: string;
  err: string;
  /** Binary writes to stdout (`-o -`). */
  bytes: Uint8Array[];
}

/** `sigframe ARGV…` with the environment `env` (no TTY, no colour unless asked). */
export async function sigframe(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const io = memoryIo(env);
  const code = await run(argv, io);
  return { code, out: io.out, err: io.err, bytes: io.bytes };
}

/** `sf("layout", "amd-zen5")`: the same, with the arguments spread. */
export function sf(...argv: string[]): Promise<CliRun> {
  return sigframe(argv);
}
