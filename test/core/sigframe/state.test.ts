import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidDataError } from "../../../src/core/errors.ts";
import { parseStateText } from "../../../src/core/sigframe/state-json.ts";

test("STATE.json text: a syntax error is one line that names the input and line, never echoes it", () => {
  const text = '{\n "rip": "0x401000",\n "mxcsr": "\u0090\u0091 0x1f80",,\n "st0": "0x1"\n}';
  let err: unknown;
  try {
    parseStateText(text, "state.json");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InvalidDataError, String(err));
  assert.equal(err.input, "state.json");
  assert.equal(err.line, 3);
  assert.ok(!err.oneLine().includes("\n"), err.oneLine());
  assert.ok(!err.message.includes("0x1f80"), err.message);
});

test("STATE.json text: schema and register errors name the input and the key", () => {
  assert.throws(
    () => parseStateText('{"rip": "0x1", "nope": "0x2"}', "s.json"),
    (e: unknown) => e instanceof InvalidDataError && e.input === "s.json" && e.path === "nope",
  );
  assert.throws(
    () => parseStateText('{"a\\nb": []}', "s.json"),
    (e: unknown) => e instanceof InvalidDataError && e.input === "s.json" && !e.oneLine().includes("\n"),
  );
  assert.equal(parseStateText('{"rip": "0x401000"}', "s.json").frame.rip, 0x401000n);
});

test("STATE.json: a __proto__ key is an unknown register, not silently ignored", () => {
  assert.throws(
    () => parseStateText('{"__proto__": {"rip": "0x1"}}', "s.json"),
    (e: unknown) =>
      e instanceof InvalidDataError && e.path === "__proto__" && /unknown register/.test(e.message),
  );
});
