/**
 * The public API as a user of the package sees it: the README's library example is typechecked
 * against the built declarations and run through the package's own `exports` (self-reference to
 * "sigframe"), and package.json exposes only the curated entry points.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "./helpers/shared.ts";

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));

/** The ```ts block of README's "As a library" section. */
function libraryExample(): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith("As a library"));
  assert.ok(section, "README has an 'As a library' section");
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "the section has a ts example");
  return m[1]!;
}

test("package.json exports the curated entry points only, without side effects", () => {
  assert.equal(pkg.sideEffects, false);
  const keys = Object.keys(pkg.exports);
  assert.deepEqual(keys.sort(), [".", "./node", "./package.json"]);
  for (const k of keys) assert.ok(!k.includes("*"), `${k}: no wildcard exports`);
  for (const k of [".", "./node"]) {
    const target = pkg.exports[k];
    assert.ok(existsSync(join(REPO_ROOT, target.types)), `${target.types} is built (npm run build)`);
    assert.ok(existsSync(join(REPO_ROOT, target.default)), `${target.default} is built (npm run build)`);
  }
});

test("the README's library example imports the public entry point and typechecks against it", () => {
  const code = libraryExample();
  const specifiers = [...code.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
  assert.ok(specifiers.length > 0);
  for (const s of specifiers) assert.ok(s === "sigframe" || s === "sigframe/node", `imports ${s}`);
  // A virtual file at the package root resolves "sigframe" through package.json's exports, as a
  // dependent package would.
  const file = join(REPO_ROOT, "readme-library-example.ts");
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? code : readFile.call(host, f));
  host.getSourceFile = (f, lang, ...rest) =>
    f === file ? ts.createSourceFile(f, code, lang) : getSourceFile.call(host, f, lang, ...rest);
  const program = ts.createProgram([file], options, host);
  const errors = ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  assert.deepEqual(errors, []);
});

test("the README's library example runs from the built package and prints what its comments say", () => {
  const code = ts.transpileModule(libraryExample(), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  // Each `console.log(…); // expected` line of the example, in order.
  const expected = [...libraryExample().matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]);
  assert.ok(expected.length > 0, "the example states what it prints");
  assert.deepEqual(r.stdout.trimEnd().split("\n"), expected);
});
