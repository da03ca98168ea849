/**
 * Errors as the CLI prints them: `sigframe: <input>[:<where>]: <what went wrong>`. The page shows
 * this one line for bad input, so a user sees the same words in the terminal and in the browser.
 */
import { isSigframeError } from "../../src/core/errors.ts";

/** Any thrown value as one line: bad input as the CLI says it, anything else as an internal error. */
export function errorLine(e: unknown, fallbackInput?: string): string {
  if (isSigframeError(e)) return e.oneLine(fallbackInput);
  const msg = e instanceof Error ? e.message : String(e);
  return `sigframe: internal error: ${msg.split("\n")[0]}`;
}
