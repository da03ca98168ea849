/**
 * Errors as the CLI prints them: `sigframe: <input>[:<where>]: <what went wrong>`. The page shows
 * this one line for bad input, so a user sees the same words in the terminal and in the browser.
 */
import { isSigframeError, type SigframeError } from "../../src/core/errors.ts";

/** The contract's one line for a SigframeError (the CLI's errorLine, without the newline). */
export function sigframeErrorLine(e: SigframeError, fallbackInput?: string): string {
  const input = e.input ?? fallbackInput;
  const where = e.where();
  const head = ["sigframe", input, where].filter((x) => x !== undefined && x !== "").join(": ");
  return `${head}: ${e.message}`;
}

/** Any thrown value as one line: bad input as the CLI says it, anything else as an internal error. */
export function errorLine(e: unknown, fallbackInput?: string): string {
  if (isSigframeError(e)) return sigframeErrorLine(e, fallbackInput);
  const msg = e instanceof Error ? e.message : String(e);
  return `sigframe: internal error: ${msg.split("\n")[0]}`;
}
