import assert from "node:assert/strict";
import { test } from "node:test";
import { splitCommandLine } from "../../src/core/command-line.ts";

test("splitCommandLine splits as a POSIX shell does, without expanding anything", () => {
  const cases: [string, string[]][] = [
    ["qemu-x86_64 -cpu max", ["qemu-x86_64", "-cpu", "max"]],
    ["  runsc   --network=none\tdo  ", ["runsc", "--network=none", "do"]],
    [`valgrind --tool='none' "--log-file=/tmp/a b"`, ["valgrind", "--tool=none", "--log-file=/tmp/a b"]],
    [`sh -c 'exec "$0" "$@" | cat'`, ["sh", "-c", 'exec "$0" "$@" | cat']],
    [`a\\ b "c\\"d" 'e\\f' "\\$HOME" $HOME ~ *`, ["a b", 'c"d', "e\\f", "$HOME", "$HOME", "~", "*"]],
    [`x "" ''`, ["x", "", ""]],
    ["a\\\nb", ["ab"]],
  ];
  for (const [line, words] of cases) assert.deepEqual(splitCommandLine(line), words, line);
});

test("splitCommandLine refuses what needs a shell, and nothing to run", () => {
  for (const [line, msg] of [
    ["", /no command/],
    ["   ", /no command/],
    ["a 'b", /unterminated single quote/],
    ['a "b', /unterminated double quote/],
    ["a \\", /backslash at the end/],
    ["qemu-x86_64 | tee log", /'\|' needs a shell/],
    ["a; b", /';' needs a shell/],
    ["a > out", /'>' needs a shell/],
    ["a && b", /'&' needs a shell/],
  ] as const) {
    assert.throws(
      () => splitCommandLine(line, "--under"),
      (e: Error & { kind?: string; input?: string }) => {
        assert.match(e.message, msg);
        assert.equal(e.kind, "usage");
        assert.equal(e.input, "--under");
        return true;
      },
    );
  }
});
