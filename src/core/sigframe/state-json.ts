/**
 * STATE.json read into a RegisterState (state.ts): an object of register name → "0x…" or a
 * number, validated; errors name the register and, for syntax errors, the line and column.
 */
import { z } from "zod";
import { InvalidDataError } from "../errors.ts";
import { parseJsonText } from "../json.ts";
import { emptyState, MAX_STATE_BYTES, parseWide, type RegisterState, setRegister } from "./state.ts";

const STATE_SCHEMA = z.record(
  z.string(),
  z.union([z.string(), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]),
);

/** Parses STATE.json (an object of register name → "0x…" or a number). */
export function parseStateJson(doc: unknown): RegisterState {
  const r = STATE_SCHEMA.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.map(String).join("/");
    throw new InvalidDataError(
      path
        ? `${path}: expected a register value ("0x…" or a number)`
        : "expected an object of register name → value",
      path ? { path } : {},
    );
  }
  // A key the schema drops (`__proto__`) is still a name the user gave: unknown, not ignored.
  const dropped = Object.keys(doc as object).find((k) => !Object.hasOwn(r.data, k));
  if (dropped !== undefined)
    throw new InvalidDataError(`unknown register ${JSON.stringify(dropped)}`, { path: dropped });
  const state = emptyState();
  for (const [name, raw] of Object.entries(r.data)) {
    let v: bigint;
    try {
      v = typeof raw === "number" ? BigInt(raw) : parseWide(raw, name);
    } catch (e) {
      if (e instanceof InvalidDataError) throw new InvalidDataError(e.message, { path: name });
      throw e;
    }
    setRegister(state, name, v);
  }
  return state;
}

/**
 * Parses the text of STATE.json: a syntax error names the line and column (never echoes the
 * input), every error names `input`.
 */
export function parseStateText(text: string, input: string): RegisterState {
  if (text.length > MAX_STATE_BYTES)
    throw new InvalidDataError(
      `STATE.json of ${text.length} characters: every register of a frame, AMX tiles included, takes under ${MAX_STATE_BYTES}`,
      { input },
    );
  const doc = parseJsonText(text, input);
  try {
    return parseStateJson(doc);
  } catch (e) {
    if (e instanceof InvalidDataError) e.locate({ input });
    throw e;
  }
}
