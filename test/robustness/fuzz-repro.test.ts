/**
 * Regressions for the inputs a mutation campaign found (../shared/fuzz-repro and the "too slow or
 * too big from small inputs" list of its README). Each input is generated here with the structure
 * of the reproducer, from built-in profiles and built frames: the files themselves are not used.
 * Every run must end in the contract's one error line (or a result), and where the input claims a
 * size, the error must come from the reader that sees the claim, before anything is sized by it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { CpuidLeaf } from "../../src/core/cpuid/cpuid.ts";
import { Cpuid } from "../../src/core/cpuid/cpuid.ts";
import { InvalidDataError } from "../../src/core/errors.ts";
import { profileFromCpuid } from "../../src/core/profile.ts";
import { builtinProfile, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { profileToJson } from "../../src/core/profiles/json.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { MAX_XSAVE_SIZE } from "../../src/core/xsave/limits.ts";
import { cli } from "./harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "sigframe-repro-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (name: string, data: string | Uint8Array) => {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, data);
  return p;
};

const hex8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** The leaves of a built-in profile with CPUID(0xD, sub).reg replaced by `value`. */
function corrupted(name: string, sub: number, reg: "eax" | "ebx", value: number): CpuidLeaf[] {
  const leaves = builtinProfile(name).cpuid.leaves.map((l) => ({ ...l }));
  const l = leaves.find((x) => x.leaf === 0xd && x.subleaf === sub);
  assert.ok(l, `${name} has CPUID(0xD,${sub})`);
  l[reg] = value >>> 0;
  return leaves;
}

/** `cpuid -r` text of one CPU; returns the text and the 1-based line of CPUID(0xD, sub). */
function cpuidR(leaves: CpuidLeaf[], sub: number): { text: string; line: number } {
  const lines = ["CPU 0:"];
  let line = 0;
  for (const l of leaves) {
    lines.push(
      `   ${hex8(l.leaf)} 0x${l.subleaf.toString(16).padStart(2, "0")}: eax=${hex8(l.eax)} ebx=${hex8(l.ebx)} ecx=${hex8(l.ecx)} edx=${hex8(l.edx)}`,
    );
    if (l.leaf === 0xd && l.subleaf === sub) line = lines.length;
  }
  return { text: `${lines.join("\n")}\n`, line };
}

/** A sigframe-profile/1 document of `name` with these leaves; the index of CPUID(0xD, sub). */
function profileJson(name: string, leaves: CpuidLeaf[], sub: number): { text: string; index: number } {
  const p = builtinProfile(name);
  const doc = profileToJson({ ...p, cpuid: new Cpuid(leaves) });
  const index = leaves.findIndex((l) => l.leaf === 0xd && l.subleaf === sub);
  return { text: JSON.stringify(doc, null, 1), index };
}

/** The same leaves in the cpuid-corpus schema (`leaves`, `xgetbv`). */
function corpusJson(leaves: CpuidLeaf[], sub: number): { text: string; index: number } {
  const doc = {
    name: "mutated corpus dump",
    vendor: "GenuineIntel",
    family: 6,
    model: 143,
    stepping: 8,
    leaves: leaves.map((l) => ({
      leaf: hex8(l.leaf),
      subleaf: hex8(l.subleaf),
      eax: hex8(l.eax),
      ebx: hex8(l.ebx),
      ecx: hex8(l.ecx),
      edx: hex8(l.edx),
    })),
  };
  return {
    text: JSON.stringify(doc, null, 2),
    index: leaves.findIndex((l) => l.leaf === 0xd && l.subleaf === sub),
  };
}

/** The reader's error for these bytes (it must be one). */
function readError(bytes: string, name: string): InvalidDataError {
  try {
    profileFromBytes(new TextEncoder().encode(bytes), name);
  } catch (e) {
    assert.ok(e instanceof InvalidDataError, `InvalidDataError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${name} was read as a profile`);
}

async function refused(args: string[], input: string): Promise<string> {
  const r = await cli(args, { input });
  assert.equal(r.code, 2, r.err);
  return r.err;
}

describe("XSAVE sizes from CPUID are bounded by the architecture", () => {
  test("cpuid-r-huge-component: a 'cpuid -r' dump whose YMM sub-leaf claims 0xffffffff bytes", async () => {
    const { text, line } = cpuidR(corrupted("intel-skylake-server", 2, "eax", 0xffffffff), 2);
    const e = readError(text, "dump.txt");
    assert.equal(e.line, line);
    assert.match(e.message, /CPUID\(0xD,2\)\.EAX: YMM is 4294967295 bytes/);
    const p = file("huge-component.txt", text);
    const err = await refused(["check", "--from", "intel-skylake-server", "--to", p], p);
    assert.ok(err.startsWith(`sigframe: ${p}: ${line}: `), err);
  });

  test("memory-profile-a: a corpus dump whose PKRU sub-leaf claims 2 GiB", async () => {
    const { text, index } = corpusJson(corrupted("intel-sapphirerapids", 9, "eax", 0x80000000), 9);
    const e = readError(text, "a.json");
    assert.equal(e.path, `leaves/${index}/eax`);
    const p = file("memory-profile-a.json", text);
    await refused(["build", "--cpu", p, "-o", join(tmp, "a.bin")], p);
    await refused(["check", "--from", p, "--to", "intel-haswell"], p);
  });

  test("memory-profile-b and profile-ymm-offset-2GiB: YMM at offset 2 GiB", async () => {
    const { text, index } = profileJson("intel-haswell", corrupted("intel-haswell", 2, "ebx", 0x80000000), 2);
    const e = readError(text, "b.json");
    assert.equal(e.path, `cpuid/${index}/ebx`);
    assert.match(e.message, /YMM at offset 2147483648/);
    const p = file("ymm-offset.json", text);
    await refused(["build", "--cpu", p, "-o", join(tmp, "b.bin")], p);
    await refused(["build", "--cpu", p, "-o", "-"], p);
    await refused(["matrix", p, "intel-skylake-server"], p);
    await refused(["translate", "--from", p, "--to", "amd-zen4", p, "-o", join(tmp, "t.bin")], p);
  });

  test("profile-ymm-size-4GiB: YMM of 0xffffffff bytes, as the destination, the source and in a matrix", async () => {
    const { text, index } = profileJson("intel-haswell", corrupted("intel-haswell", 2, "eax", 0xffffffff), 2);
    assert.equal(readError(text, "c.json").path, `cpuid/${index}/eax`);
    const p = file("ymm-size.json", text);
    await refused(["check", "--from", "amd-zen4", "--to", p], p);
    await refused(["check", "--from", p, "--to", "amd-zen4"], p);
    await refused(["matrix", p, "intel-skylake-server"], p);
  });

  test("sizes up to the bound are read; the largest real area (AMX) is well inside it", () => {
    const amx = computeLayout(builtinProfile("intel-sapphirerapids"), { amx: true });
    assert.ok(amx.userSize > 8192 && amx.userSize < MAX_XSAVE_SIZE, String(amx.userSize));
    // A component that ends exactly at the bound is a (strange) CPU, not an error.
    const leaves = corrupted("intel-haswell", 2, "ebx", MAX_XSAVE_SIZE - 256);
    const { text } = profileJson("intel-haswell", leaves, 2);
    const l = computeLayout(profileFromBytes(new TextEncoder().encode(text), "edge.json"));
    assert.equal(l.userSize, MAX_XSAVE_SIZE);
  });

  test("a profile built in code with an impossible sub-leaf leaves the component out, with a warning", () => {
    const leaves = corrupted("intel-haswell", 2, "eax", 0xffffffff);
    const p = profileFromCpuid(new Cpuid(leaves), "in-code", { kind: "builtin" });
    const l = computeLayout(p);
    assert.ok(l.userSize <= MAX_XSAVE_SIZE);
    const ymm = l.components.find((c) => c.bit === 2)!;
    assert.equal(ymm.enabled, false);
    assert.match(ymm.reason ?? "", /YMM is 4294967295 bytes/);
    assert.ok(l.warnings.some((w) => w.includes("YMM is left out")));
  });
});
