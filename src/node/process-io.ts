/**
 * The CLI's output for a process (src/cli/bin.ts): what `run()` writes goes to file descriptors 1
 * and 2 of this process. Standard output is written with fs.writeSync rather than through
 * process.stdout: creating that stream loads node's stream modules, and for a pipe its network
 * modules too, some milliseconds of a command that itself takes a few tens. process.stdout is
 * still used where writeSync cannot write (a non-blocking descriptor whose reader is slow: EAGAIN)
 * and to ask a terminal whether it is one; process.stderr is created when something is written to
 * it or a command asks whether it is a terminal (progress lines).
 */
import { fstatSync, statSync, writeSync } from "node:fs";

/** What src/cli/context.ts's CliIo asks of a process (structurally the same interface). */
export interface ProcessIo {
  stdout(s: string | Uint8Array): void;
  stderr(s: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  env: Record<string, string | undefined>;
}

/**
 * Whether fd 1 is a terminal, without creating process.stdout for the answer no: only a character
 * device other than /dev/null can be one (files, pipes and sockets are not).
 */
function stdoutIsTerminal(): boolean {
  try {
    const st = fstatSync(1);
    if (!st.isCharacterDevice() || st.rdev === statSync("/dev/null").rdev) return false;
  } catch {
    return false;
  }
  return Boolean(process.stdout.isTTY);
}

/** A reader that goes away (`sigframe … | head`) ends the output, not the process with a stack trace. */
function endOnClosedReader(e: NodeJS.ErrnoException): void {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
}

export function processIo(): ProcessIo {
  let viaStream = false;
  let tty: boolean | undefined;
  const toStream = (b: Uint8Array) => {
    if (!viaStream) process.stdout.on("error", endOnClosedReader);
    viaStream = true;
    process.stdout.write(b);
  };
  return {
    stdout(s) {
      const b = typeof s === "string" ? Buffer.from(s) : s;
      if (viaStream) return toStream(b);
      let at = 0;
      try {
        while (at < b.length) at += writeSync(1, b, at);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== "EAGAIN") return endOnClosedReader(err);
        toStream(b.subarray(at));
      }
    },
    stderr(s) {
      process.stderr.write(s);
    },
    get stdoutIsTTY() {
      tty ??= stdoutIsTerminal();
      return tty;
    },
    get stderrIsTTY() {
      return Boolean(process.stderr.isTTY);
    },
    env: process.env,
  };
}
