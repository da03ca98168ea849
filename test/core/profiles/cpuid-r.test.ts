import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { InvalidDataError, UsageError } from "../../../src/core/errors.ts";
import { parseCpuidR, profileFromCpuidR } from "../../../src/core/profiles/cpuid-r.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";

function cpuid(args: string[]): string | undefined {
  const r = spawnSync("cpuid", args, { encoding: "utf8" });
  return r.status === 0 && !r.error ? r.stdout : undefined;
}

const all = cpuid(["-r"]);
const one = cpuid(["-r", "-1"]);
const missing = { skip: "Debian's 'cpuid' is not installed (CI installs it)" };

test("cpuid -r (all CPUs): one block per CPU, CPU 0 by default", all === undefined ? missing : {}, () => {
  const blocks = parseCpuidR(all!);
  assert.ok(blocks.length >= 1);
  assert.deepEqual(
    blocks.map((b) => b.cpu),
    blocks.map((_, i) => i),
  );
  const p = profileFromCpuidR(all!, "dump");
  const l0 = p.cpuid.get(0)!;
  assert.equal(l0.leaf, 0);
  assert.ok(
    ["GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls", "  Shanghai  "].includes(p.vendor),
  );
  // Leaf 0xD sub-leaves are kept apart (the layout engine needs every one).
  const subs = blocks[0]!.leaves.filter((l) => l.leaf === 0xd).map((l) => l.subleaf);
  assert.ok(subs.includes(0) && subs.includes(1) && subs.includes(2));
  if (blocks.length > 1) {
    const p1 = profileFromCpuidR(all!, "dump", blocks.length - 1);
    assert.equal(p1.vendor, p.vendor);
    assert.match(p1.notes[0]!, new RegExp(`CPU ${blocks.length - 1} of ${blocks.length}`));
  }
  assert.throws(() => profileFromCpuidR(all!, "dump", 9999), UsageError);
});

test(
  "cpuid -r -1 ('CPU:' header) agrees with CPU 0 of the full dump on stable leaves",
  one === undefined ? missing : {},
  () => {
    const a = profileFromCpuidR(one!, "one");
    const b = profileFromCpuidR(all!, "all");
    assert.equal(a.vendor, b.vendor);
    assert.equal(a.cpuid.signature(), b.cpuid.signature());
    for (let s = 0; s < 20; s++) assert.deepEqual(a.cpuid.get(0xd, s), b.cpuid.get(0xd, s));
    // Auto-detection takes the same path.
    const c = profileFromBytes(new TextEncoder().encode(one!), "one");
    assert.equal(c.source.kind, "cpuid-r");
    assert.equal(c.family, a.family);
  },
);

test("family/model/stepping follow the extended-field rules", () => {
  const text = [
    "CPU 0:",
    "   0x00000000 0x00: eax=0x00000010 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65",
    "   0x00000001 0x00: eax=0x00a10f11 ebx=0x00000000 ecx=0x00000000 edx=0x00000000",
  ].join("\n");
  const p = profileFromCpuidR(text, "genoa");
  assert.deepEqual([p.vendor, p.family, p.model, p.stepping], ["AuthenticAMD", 25, 17, 1]);
  const intel = text
    .replace("0x68747541 ecx=0x444d4163 edx=0x69746e65", "0x756e6547 ecx=0x6c65746e edx=0x49656e69")
    .replace("0x00a10f11", "0x000606a6");
  const q = profileFromCpuidR(intel, "icx");
  assert.deepEqual([q.vendor, q.family, q.model, q.stepping], ["GenuineIntel", 6, 106, 6]);
});

test("a malformed line is reported with its line number", () => {
  const text =
    "CPU 0:\n   0x00000000 0x00: eax=0x00000010 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n   0x00000001 0x00: eax=0xZZ\n";
  assert.throws(
    () => parseCpuidR(text, "bad.txt"),
    (e: unknown) => e instanceof InvalidDataError && e.line === 3 && e.input === "bad.txt",
  );
  assert.throws(() => parseCpuidR("CPU 0:\n\n", "empty"), InvalidDataError);
});
