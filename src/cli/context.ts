/**
 * What a command gets to talk to the world: output streams, colours, exit code. Tests drive `run()`
 * with an in-memory context; `bin/sigframe.js` drives it with the process's streams.
 */
import pc from "picocolors";

export interface CliIo {
  stdout(s: string | Uint8Array): void;
  stderr(s: string): void;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Record<string, string | undefined>;
}

export class CliContext {
  readonly io: CliIo;
  exitCode = 0;
  readonly color: boolean;
  readonly c: ReturnType<typeof pc.createColors>;

  constructor(io: CliIo) {
    this.io = io;
    this.color = io.stdoutIsTTY && !("NO_COLOR" in io.env) && io.env.TERM !== "dumb";
    this.c = pc.createColors(this.color);
  }

  /** Writes text to stdout, newline-terminated. */
  out(text: string): void {
    this.io.stdout(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** A warning line on stderr (never for bad input: that throws). */
  warn(text: string): void {
    this.io.stderr(`sigframe: warning: ${text}\n`);
  }

  /** Raises the exit code (a worse outcome wins: 3 > 1 > 0). */
  setExit(code: number): void {
    if (code > this.exitCode) this.exitCode = code;
  }
}

/** Process-backed I/O. */
export function processIo(): CliIo {
  // A reader that goes away (`sigframe … | head`) ends the output, not the process with a stack trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  return {
    stdout: (s) => {
      process.stdout.write(s);
    },
    stderr: (s) => {
      process.stderr.write(s);
    },
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    // Asked only by commands that draw progress: process.stderr is created when first used, and for
    // a pipe (as most callers give) that loads node's network stack, some milliseconds.
    get stderrIsTTY() {
      return Boolean(process.stderr.isTTY);
    },
    env: process.env,
  };
}

/** In-memory I/O for tests: collects stdout and stderr. */
export function memoryIo(
  env: Record<string, string | undefined> = {},
): CliIo & { out: string; err: string; bytes: Uint8Array[] } {
  const io = {
    out: "",
    err: "",
    bytes: [] as Uint8Array[],
    stdout(s: string | Uint8Array) {
      if (typeof s === "string") io.out += s;
      else io.bytes.push(s);
    },
    stderr(s: string) {
      io.err += s;
    },
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env,
  };
  return io;
}
