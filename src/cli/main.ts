/**
 * The `sigframe` command: parses arguments with commander, runs one command, and maps failures to
 * the contract: one line `sigframe: <input>[:<where>]: <what went wrong>` on stderr and exit 2 for
 * bad input or usage, 4 when the environment cannot do it. `commands.ts` lists every command and
 * the module that defines it.
 */
import { Command, CommanderError } from "commander";
import { isSigframeError, oneLineText } from "../core/errors.ts";
import { registerCommands } from "./commands.ts";
import { CliContext, type CliIo, wantsColor } from "./context.ts";
import { exitCodesHelp } from "./exit-codes.ts";
import { VERSION } from "./version.ts";

async function buildProgram(ctx: CliContext, argv: readonly string[] = []): Promise<Command> {
  const program = new Command("sigframe");
  program
    .description("Make the x86-64 Linux signal-frame FPU/XSAVE ABI visible, checkable and portable")
    .version(VERSION, "-V, --version")
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      outputError: () => {},
    })
    .exitOverride();
  await registerCommands(program, ctx, argv);
  for (const cmd of program.commands) {
    const codes = exitCodesHelp(cmd.name(), cmd.description());
    if (codes) cmd.addHelpText("after", codes);
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      outputError: () => {},
    });
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput({
        writeOut: (s) => ctx.io.stdout(s),
        writeErr: (s) => ctx.io.stderr(s),
        outputError: () => {},
      });
    }
  }
  return program;
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  // picocolors asks process.stdout whether it is a terminal when it loads: it is loaded only for a
  // terminal (src/node/process-io.ts answers the question for the rest without that stream).
  const colors = wantsColor(io) ? (await import("picocolors")).default.createColors(true) : undefined;
  const ctx = new CliContext(io, colors);
  const program = await buildProgram(ctx, argv);
  try {
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      ) {
        return 0;
      }
      const cmd = argv.find((a) => !a.startsWith("-") && a.trim() !== "");
      // commander puts its suggestion on a line of its own ("…\n(Did you mean layout?)").
      const msg = e.message
        .replace(/^error: /, "")
        .trim()
        .replace(/\s*\n\s*/g, " ");
      io.stderr(
        `${oneLineText(`sigframe: ${cmd ?? "usage"}: ${msg} (see 'sigframe help${cmd ? ` ${cmd}` : ""}')`)}\n`,
      );
      return 2;
    }
    if (isSigframeError(e)) {
      io.stderr(`${e.oneLine()}\n`);
      return e.kind === "environment" ? 4 : 2;
    }
    // A bug, not bad input: still one line, but say it is internal.
    const err = e as Error;
    io.stderr(`sigframe: internal error: ${err?.stack ?? String(e)}\n`);
    return 70;
  }
}
