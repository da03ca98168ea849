/**
 * The examples in README.md and docs/*.md are real runs: every `console` block is run again and must
 * print the same. Blocks about the machine the docs were made on (`host`, `probe`, `--to host`) and
 * `serve` are skipped here (the probe, host and web tests cover them); shell set-up lines other than
 * `cat FILE` are done by the test itself.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../src/cli/context.ts";
import { run } from "../src/cli/main.ts";
import { FIXTURES, needs, REPO_ROOT, SHARED } from "./helpers/shared.ts";

interface Step {
  command: string;
  output: string;
}

function blocks(markdown: string): Step[][] {
  const out: Step[][] = [];
  for (const m of markdown.matchAll(/```console\n([\s\S]*?)```/g)) {
    const steps: Step[] = [];
    for (const line of m[1]!.split("\n")) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2), output: "" });
      else if (steps.length) steps[steps.length - 1]!.output += `${line}\n`;
    }
    for (const s of steps) s.output = s.output.replace(/\n+$/, "\n");
    out.push(steps);
  }
  return out;
}

function words(command: string): string[] {
  return command.split(/\s+/).filter(Boolean);
}

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const all = blocks(readme);
const docs = readdirSync(join(REPO_ROOT, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => ({ name: `docs/${f}`, blocks: blocks(readFileSync(join(REPO_ROOT, "docs", f), "utf8")) }));
const machineBound = (s: Step) => /(^| )(host|probe|serve|abi-test)( |$)/.test(s.command);

test("the README shows at least one example per command", () => {
  const shown = new Set(
    all.flat().map((s) => {
      const w = words(s.command);
      return w[w.indexOf("sigframe") + 1];
    }),
  );
  const commands = ["profiles", "layout", "diff", "inspect", "build", "predict", "host", "probe", "check"];
  commands.push("baseline", "matrix", "policy-diff", "scan", "criu", "translate", "abi-test");
  for (const cmd of commands) assert.ok(shown.has(cmd), `no example of ${cmd}`);
});

test(
  "every example in the README and docs prints what they say",
  needs(FIXTURES, "team fixtures"),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-readme-"));
    const truth = JSON.parse(readFileSync(join(FIXTURES, "truth", "S2.json"), "utf8"));
    writeFileSync(join(dir, "s2.frame"), Buffer.from(truth.threads[0].frames[0].frame_bytes_hex, "hex"));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      let ran = 0;
      for (const { name, blocks: list } of [{ name: "README.md", blocks: all }, ...docs]) {
        for (const block of list) {
          if (block.some(machineBound)) continue;
          ran += await runBlock(block, name);
        }
      }
      assert.ok(ran >= 18, `only ${ran} examples ran`);
    } finally {
      process.chdir(cwd);
    }
  },
);

async function runBlock(block: Step[], doc: string): Promise<number> {
  let ran = 0;
  for (const step of block) {
    const argv = words(step.command);
    if (argv[0] === "cat") {
      writeFileSync(argv[1]!, step.output);
      continue;
    }
    if (argv[0] !== "sigframe" && argv[0] !== "npx") continue;
    if (argv[0] === "npx") argv.shift();
    assert.equal(argv.shift(), "sigframe", step.command);
    const io = memoryIo();
    await run(
      argv.map((a) => a.replace(/^\.\.\/shared/, SHARED)),
      io,
    );
    const got = (io.out + io.err).split(SHARED).join("../shared").replace(/\n+$/, "\n");
    assert.equal(got, step.output, `${doc} example: sigframe ${argv.join(" ")}`);
    ran++;
  }
  return ran;
}

test("the README's first check runs the same anywhere; a --to host example says which machine it shows", () => {
  const checks = all.flat().filter((s) => words(s.command).includes("check"));
  assert.ok(checks.length > 0);
  assert.ok(!machineBound(checks[0]!), `the first check example is machine-bound: ${checks[0]!.command}`);
  for (const m of readme.matchAll(/```console\n\$ ([^\n]*--to host[^\n]*)/g)) {
    const before = readme.slice(0, m.index).trimEnd().split("\n\n").pop() ?? "";
    assert.match(before, /made on/, `no word on which machine '${m[1]}' shows`);
  }
});
