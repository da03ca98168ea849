/** `sigframe serve [--port N]`: the web explorer (node/serve.ts) on 127.0.0.1 until Ctrl-C. */
import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { HOST, startServer, webDistDir } from "../node/serve.ts";
import type { CliContext } from "./context.ts";

export const DEFAULT_PORT = 7478;

/** `--port N`: 0 … 65535 (0 = a free port). */
export function portOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PORT;
  if (!/^\d+$/.test(text.trim()) || Number(text) > 65535) {
    throw new UsageError(`expected a port number 0…65535, got ${JSON.stringify(text)}`, { input: "--port" });
  }
  return Number(text);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .summary("local web explorer on 127.0.0.1")
    .description(
      `Serve the web explorer on ${HOST} (never on other interfaces): layouts, diffs, frame inspection with sigreturn predictions, and migration checks, computed in the browser by the same code as the CLI. Files loaded into the page stay in the browser.\n\nThe app is built into web/dist by 'npm run build:web' (part of 'npm install'); SIGFRAME_WEB_DIST names another build. Stop with Ctrl-C.`,
    )
    .option("--port <N>", `TCP port on ${HOST}; 0 picks a free one`, String(DEFAULT_PORT))
    .action(async (flags: { port?: string }) => {
      const port = portOption(flags.port);
      const s = await startServer({ root: webDistDir(ctx.io.env), port });
      ctx.out(`sigframe explorer: ${s.url}`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void s.close().then(done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
