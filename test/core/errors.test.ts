import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidDataError, UsageError } from "../../src/core/errors.ts";

test("the error line names an empty or blank input quoted, never drops it", () => {
  assert.equal(new UsageError("no such profile", { input: "" }).oneLine(), 'sigframe: "": no such profile');
  assert.equal(new UsageError("no such profile", { input: " " }).oneLine(), 'sigframe: " ": no such profile');
  assert.equal(new UsageError("bad", { input: "a.json" }).oneLine(), "sigframe: a.json: bad");
});

test("the error line stays one line whatever the message quotes from the input", () => {
  const e = new InvalidDataError('unknown register "a\nb"', { input: "dir/x\ny.json", path: "a\rb" });
  const line = e.oneLine();
  assert.ok(!/[\n\r]/.test(line), line);
  assert.equal(line, 'sigframe: dir/x\\u000ay.json: a\\u000db: unknown register "a\\u000ab"');
});
