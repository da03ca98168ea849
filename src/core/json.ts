/**
 * JSON input with errors that say where: JSON.parse does the work; when it fails, a small
 * recursive-descent checker finds the line and column of the first syntax error (engines differ in
 * whether their message carries a position).
 */
import { InvalidDataError } from "./errors.ts";

export function parseJsonText(text: string, input: string): unknown {
  // Nesting first: JSON.parse would build a million nested arrays from 2 MB of brackets.
  const deep = tooDeep(text);
  if (deep !== undefined) throw jsonError(text, input, deep, `nested more than ${MAX_DEPTH} deep`);
  try {
    return JSON.parse(text);
  } catch {
    const { pos, what } = locateJsonError(text);
    throw jsonError(text, input, pos, what);
  }
}

function jsonError(text: string, input: string, pos: number, what: string): InvalidDataError {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < pos; i = text.indexOf("\n", i + 1)) line++;
  const col = pos - text.lastIndexOf("\n", pos - 1);
  return new InvalidDataError(`not valid JSON: ${what} at column ${col}`, { input, line });
}

/** Deepest nesting any document here has a use for (profiles and states are a few levels deep). */
export const MAX_DEPTH = 512;

/** Position of the bracket that opens level MAX_DEPTH + 1 (strings skipped), if any. */
function tooDeep(s: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included.
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/** Position (UTF-16 index) and description of the first syntax error. */
export function locateJsonError(s: string): { pos: number; what: string } {
  let i = 0;
  class Stop {
    constructor(
      readonly pos: number,
      readonly what: string,
    ) {}
  }
  const fail = (what: string): never => {
    throw new Stop(i, what);
  };
  const ws = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === "\n" || s[i] === "\r")) i++;
  };
  const lit = (word: string) => {
    if (s.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${describe(s[i])}`);
  };
  const str = () => {
    i++;
    while (i < s.length && s[i] !== '"') {
      const ch = s.charCodeAt(i);
      if (ch < 0x20) fail("control character in string");
      if (s[i] === "\\") {
        i++;
        if (s[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 1, i + 5))) fail("bad \\u escape");
          i += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(s[i] ?? "")) fail("bad escape");
      }
      i++;
    }
    if (i >= s.length) fail("unterminated string");
    i++;
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m || m[0] === "" || m[0] === "-") fail(`unexpected ${describe(s[i])}`);
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) fail("nested too deeply");
    ws();
    const c = s[i];
    if (c === "{") {
      i++;
      ws();
      if (s[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail(`expected a property name, found ${describe(s[i])}`);
        str();
        ws();
        if (s[i] !== ":") fail(`expected ':', found ${describe(s[i])}`);
        i++;
        value(depth + 1);
        ws();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}', found ${describe(s[i])}`);
      }
    } else if (c === "[") {
      i++;
      ws();
      if (s[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']', found ${describe(s[i])}`);
      }
    } else if (c === '"') str();
    else if (c === "t") lit("true");
    else if (c === "f") lit("false");
    else if (c === "n") lit("null");
    else num();
  };
  try {
    value(0);
    ws();
    if (i < s.length) fail(`unexpected ${describe(s[i])} after the document`);
    return { pos: s.length, what: "invalid document" };
  } catch (e) {
    if (e instanceof Stop) return { pos: e.pos, what: e.what };
    throw e;
  }
}

function describe(ch: string | undefined): string {
  return ch === undefined ? "end of input" : JSON.stringify(ch);
}
