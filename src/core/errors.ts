/**
 * The error model of the whole library, one class per kind of failure.
 *
 * - `TruncatedInputError`: the input ends before a field it announces (a length that runs past
 *   the end, a frame cut short). Like msgpack's RangeError: "not enough bytes".
 * - `InvalidDataError`: the bytes or text are there but are not what they claim to be.
 * - `UsageError`: the caller asked for something that does not make sense (bad option value,
 *   unknown profile name).
 * - `EnvironmentError`: this machine cannot do it (no native helper, not x86-64).
 *
 * Every error can carry where it happened: a byte `offset`, a field `path` ("fpstate/sw/xstate_size")
 * or a text `line`. The CLI turns them into the contract's one line:
 * `sigframe: <input>[:<where>]: <what went wrong>`.
 */
export type ErrorKind = "truncated" | "invalid" | "usage" | "environment";

export interface ErrorLocation {
  /** Byte offset into the binary input. */
  offset?: number;
  /** Field path, slash-separated, e.g. `fpstate/sw_bytes/xstate_size`. */
  path?: string;
  /** 1-based line number in a text input. */
  line?: number;
  /** The input this error is about (file name, `-`, a profile name). */
  input?: string;
}

export class SigframeError extends Error {
  readonly kind: ErrorKind;
  offset?: number;
  path?: string;
  line?: number;
  input?: string;

  constructor(kind: ErrorKind, message: string, where: ErrorLocation = {}) {
    super(message);
    this.kind = kind;
    this.name = "SigframeError";
    if (where.offset !== undefined) this.offset = where.offset;
    if (where.path !== undefined) this.path = where.path;
    if (where.line !== undefined) this.line = where.line;
    if (where.input !== undefined) this.input = where.input;
  }

  /** `<where>` of the contract: a line number, or a byte offset and/or a field path. */
  where(): string | undefined {
    if (this.line !== undefined) return String(this.line);
    const parts: string[] = [];
    if (this.offset !== undefined) parts.push(`0x${this.offset.toString(16)}`);
    if (this.path !== undefined) parts.push(this.path);
    return parts.length ? parts.join(":") : undefined;
  }

  /** The contract's one line: `sigframe: <input>[:<where>]: <what went wrong>` (no newline). */
  oneLine(fallbackInput?: string): string {
    const given = this.input ?? fallbackInput;
    // An empty or blank argument is still the input the line is about: show it quoted.
    const input =
      given !== undefined && (given === "" || given.trim() !== given) ? JSON.stringify(given) : given;
    const parts = [input, this.path, this.where()].filter((x): x is string => x !== undefined && x !== "");
    const head = ["sigframe", input, this.where()].filter((x) => x !== undefined && x !== "").join(": ");
    return oneLineText(`${head}: ${withoutRepeatedPrefix(this.message, parts)}`);
  }

  /** Adds location facts that the thrower did not know (never overwrites). */
  locate(where: ErrorLocation): this {
    if (this.offset === undefined && where.offset !== undefined) this.offset = where.offset;
    if (this.path === undefined && where.path !== undefined) this.path = where.path;
    if (this.line === undefined && where.line !== undefined) this.line = where.line;
    if (this.input === undefined && where.input !== undefined) this.input = where.input;
    return this;
  }
}

/**
 * A message that starts with what the line already names (`--xcr0: --xcr0: …`, `ymm3: ymm3: …`,
 * thrown by a parser that names its field and located again by its caller) loses the repeat.
 */
function withoutRepeatedPrefix(message: string, named: string[]): string {
  let m = message;
  for (let again = true; again; ) {
    again = false;
    for (const n of named)
      if (m.startsWith(`${n}: `)) {
        m = m.slice(n.length + 2);
        again = true;
      }
  }
  return m;
}

/**
 * Keeps a message on one line whatever it quotes from the input (a key or file name with a
 * newline in it): line breaks and other control characters become `\uXXXX` escapes.
 */
export function oneLineText(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export class TruncatedInputError extends SigframeError {
  constructor(message: string, where: ErrorLocation = {}) {
    super("truncated", message, where);
    this.name = "TruncatedInputError";
  }
}

export class InvalidDataError extends SigframeError {
  constructor(message: string, where: ErrorLocation = {}) {
    super("invalid", message, where);
    this.name = "InvalidDataError";
  }
}

export class UsageError extends SigframeError {
  constructor(message: string, where: ErrorLocation = {}) {
    super("usage", message, where);
    this.name = "UsageError";
  }
}

export class EnvironmentError extends SigframeError {
  constructor(message: string, where: ErrorLocation = {}) {
    super("environment", message, where);
    this.name = "EnvironmentError";
  }
}

export function isSigframeError(e: unknown): e is SigframeError {
  return e instanceof SigframeError;
}
