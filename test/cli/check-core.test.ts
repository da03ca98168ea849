/**
 * `check --core` / `--checkpoint` on processes made in the test: what the report calls the image
 * and its frames, and whether the frames agree with the layout they are read with. No ../shared.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";

async function sf(...argv: string[]) {
  const io = memoryIo();
  const code = await run(argv, io);
  return { code, out: io.out, err: io.err };
}

const dir = mkdtempSync(join(tmpdir(), "sigframe-check-core-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const STACK = 0x7ffffffde000n;
const TOP = STACK + 0x21000n;

/** A process in a SIGUSR1 handler on `cpu`, written as a kernel core named `file`. */
function inHandlerCore(cpu: string, file: string, o: Parameters<typeof elfCore>[1] = {}): string {
  const l = computeLayout(builtinProfile(cpu));
  const p = simulate(
    l,
    [{ tid: 321, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { k2: "0xabcd", zmm20: "0x12" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const d = mkdtempSync(join(dir, "c-"));
  const path = join(d, file);
  writeFileSync(path, elfCore(p, { mainStack: TOP - 0x100n, ...o }));
  return path;
}

describe("what check calls a core and its frames", () => {
  test("a kernel core named 'core' is 'core', not 'core core'; its frames are 'found in the core'", async () => {
    const core = inHandlerCore("amd-zen4", "core");
    const r = await sf("check", "--core", core, "--to", "intel-icelake-server", "--policy", "classic");
    assert.equal(r.code, 3, r.err + r.out);
    assert.match(r.out, /^check: core → intel-icelake-server$/m);
    assert.match(r.out, /^ {2}from {2}core: AuthenticAMD/m);
    assert.doesNotMatch(r.out, /core core/);
    assert.match(
      r.out,
      /frames found in the core: OPMASK is at offset 832 in the frame but intel-icelake-server reads it at 1088/,
    );
    assert.doesNotMatch(r.out, /found in the checkpoint/);
    const j = JSON.parse((await sf("check", "--core", core, "--to", "intel-icelake-server", "--json")).out);
    assert.equal(j.frames[0].style, "core");
    assert.match(j.frames[0].description, /as the core holds it/);
  });

  test("a core whose name does not say so is 'core NAME'", async () => {
    const core = inHandlerCore("amd-zen4", "dump.bin");
    const r = await sf("check", "--core", core, "--to", "amd-zen4");
    assert.match(r.out, /^check: core dump\.bin → amd-zen4$/m);
  });
});
