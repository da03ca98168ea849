/**
 * What a command gets to talk to the world: output streams, colours, exit code. Tests drive `run()`
 * with an in-memory context; `bin/sigframe.js` drives it with the process's streams.
 */
import type pc from "picocolors";

export interface CliIo {
  stdout(s: string | Uint8Array): void;
  stderr(s: string): void;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Record<string, string | undefined>;
}

/** The styles human output uses (picocolors' names). */
export type CliColors = Pick<ReturnType<typeof pc.createColors>, "bold" | "dim" | "red" | "green" | "yellow">;

/** Text as it is: what the styles are without colour. */
const PLAIN: CliColors = { bold: String, dim: String, red: String, green: String, yellow: String };

/** Whether output gets colour: a terminal, unless NO_COLOR or TERM=dumb say otherwise. */
export function wantsColor(io: CliIo): boolean {
  return io.stdoutIsTTY && !("NO_COLOR" in io.env) && io.env.TERM !== "dumb";
}

export class CliContext {
  readonly io: CliIo;
  exitCode = 0;
  readonly color: boolean;
  readonly c: CliColors;

  /** `colors`: picocolors' styles where output gets colour (main.ts loads them only then). */
  constructor(io: CliIo, colors?: CliColors) {
    this.io = io;
    this.color = colors !== undefined;
    this.c = colors ?? PLAIN;
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
