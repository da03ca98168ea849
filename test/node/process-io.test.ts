/**
 * src/node/process-io.ts: the CLI's output written to fd 1 without process.stdout. Everything
 * written arrives, in order, through a pipe whose reader is slow; a reader that goes away ends the
 * output quietly; and a command writing JSON to a file or a pipe never loads node's stream or
 * network modules (the work those streams cost every run, held here as modules loaded, not time).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bundledCli } from "../helpers/cli-bundle.ts";
import { REPO_ROOT } from "../helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-io-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A child that writes `parts` lines of 256 KiB through processIo, then "end". */
function writer(): string {
  const f = join(dir, "writer.mjs");
  writeFileSync(
    f,
    `const { processIo } = await import(${JSON.stringify(join(REPO_ROOT, "src", "node", "process-io.ts"))});\n` +
      "const io = processIo();\n" +
      "for (let i = 0; i < 8; i++) io.stdout(String(i).repeat(1 << 18));\n" +
      'io.stdout("end\\n");\n',
  );
  return f;
}

test("output through a pipe whose reader is slow arrives whole and in order", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", writer()], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: Buffer[] = [];
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.stdout.pause();
  await new Promise((r) => setTimeout(r, 300));
  child.stdout.on("data", (d: Buffer) => chunks.push(d));
  child.stdout.resume();
  const code = await new Promise<number | null>((r) => child.on("close", r));
  assert.equal(code, 0, err);
  const out = Buffer.concat(chunks).toString();
  assert.equal(out.length, 8 * (1 << 18) + 4);
  for (let i = 0; i < 8; i++) assert.equal(out[i << 18], String(i), `part ${i} in place`);
  assert.ok(out.endsWith("7end\n"));
});

test("a reader that goes away ends the output: exit 0, nothing on stderr", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", writer()], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.stdout.once("data", () => child.stdout.destroy());
  const code = await new Promise<number | null>((r) => child.on("close", r));
  assert.equal(code, 0);
  assert.equal(err, "");
});

test("JSON to a file or a pipe loads none of node's stream or network modules", () => {
  const cli = bundledCli();
  const list = join(dir, "modules.json");
  const hook = join(dir, "hook.cjs");
  writeFileSync(
    hook,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)));\n`,
  );
  const image = join(dir, "pstree.img");
  // pstree.img: IMG_COMMON and PSTREE magics, one entry (pid 1, ppid 0, pgid 1, sid 1).
  writeFileSync(
    image,
    Buffer.from([0x19, 0x43, 0x56, 0x54, 0x30, 0x30, 0x27, 0x50, 8, 0, 0, 0, 8, 1, 16, 0, 24, 1, 32, 1]),
  );
  for (const args of [
    ["layout", "amd-zen4", "--json"],
    ["criu", "show", image, "--json"],
  ]) {
    for (const stdout of ["file", "pipe"] as const) {
      const out = join(dir, "out.json");
      const fd = stdout === "file" ? openSync(out, "w") : "pipe";
      const r = spawnSync(process.execPath, ["-r", hook, cli, ...args], {
        stdio: ["ignore", fd, "pipe"],
        encoding: "utf8",
      });
      if (typeof fd === "number") closeSync(fd);
      assert.equal(r.status, 0, r.stderr);
      const text = stdout === "file" ? readFileSync(out, "utf8") : r.stdout;
      assert.ok(JSON.parse(text), `${args.join(" ")}: JSON on stdout`);
      const loaded = (JSON.parse(readFileSync(list, "utf8")) as string[]).filter((m) =>
        /^NativeModule (stream|net|tty|zlib|internal\/streams\/(?!utils$))/.test(m),
      );
      assert.deepEqual(loaded, [], `${args.join(" ")} > ${stdout}`);
    }
  }
});
