import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { cString, decodeText } from "../../src/core/text.ts";

const enc = (s: string) => new TextEncoder().encode(s);

test("decodeText reads UTF-8 as TextDecoder does", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (s) => {
      assert.equal(decodeText(enc(s)), s);
    }),
  );
  const long = "Ü".repeat(20_000);
  assert.equal(decodeText(enc(long)), long);
});

test("decodeText falls back to Latin-1 on malformed UTF-8 (every byte kept)", () => {
  const latin = (b: number[]) => String.fromCharCode(...b);
  for (const bad of [
    [0x41, 0xff, 0x42], // never valid
    [0xc3], // truncated sequence
    [0xc0, 0xaf], // overlong '/'
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xe2, 0x28, 0xa1], // bad continuation byte
  ])
    assert.equal(decodeText(Uint8Array.from(bad)), latin(bad), bad.join(","));
});

test("cString stops at the first NUL, or takes the whole buffer", () => {
  assert.equal(cString(Uint8Array.from([0x43, 0x4f, 0x52, 0x45, 0, 0x58])), "CORE");
  assert.equal(cString(enc("bash")), "bash");
  assert.equal(cString(new Uint8Array(4)), "");
  assert.equal(cString(Uint8Array.from([...enc("/tmp/ä"), 0, 0xff])), "/tmp/ä");
});
