import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { InvalidDataError, UsageError } from "../../../src/core/errors.ts";
import {
  MAX_CPUS,
  MAX_LEAVES_PER_CPU,
  parseCpuidR,
  profileFromCpuidR,
} from "../../../src/core/profiles/cpuid-r.ts";
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

test("a block with more leaves than a CPU has is refused at the line that crosses the limit", () => {
  const leaf0 = "   0x00000000 0x00: eax=0x00000010 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n";
  const leaf = "   0x00000001 0x00: eax=0x1 ebx=0x1 ecx=0x1 edx=0x1\n";
  // Lines up to the crossing line are valid; every line after it is malformed. The refusal at the
  // crossing line shows that no line past the limit is parsed, whatever the input's length.
  const text = `CPU 0:\n${leaf0}${leaf.repeat(MAX_LEAVES_PER_CPU)}${"   0x00000001 0x00: eax=0xZZ\n".repeat(1e6)}`;
  assert.throws(
    () => profileFromBytes(new TextEncoder().encode(text), "million.txt"),
    (e: unknown) =>
      e instanceof InvalidDataError && e.line === 2 + MAX_LEAVES_PER_CPU && /more than 4096/.test(e.message),
  );
  // More CPU blocks than Linux supports.
  assert.throws(
    () => parseCpuidR("CPU:\n".repeat(MAX_CPUS + 1), "cpus.txt"),
    (e: unknown) => e instanceof InvalidDataError && e.line === MAX_CPUS + 1,
  );
});

test("only the chosen CPU block keeps its leaves; every line is still checked", () => {
  const leaf0 = (eax: number) =>
    `   0x00000000 0x00: eax=0x${eax.toString(16).padStart(8, "0")} ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n`;
  const text = `CPU 0:\n${leaf0(0xd)}CPU 1:\n${leaf0(0x10)}CPU 2:\n${leaf0(0x11)}`;
  const blocks = parseCpuidR(text, "dump", (cpu) => cpu === 1);
  assert.deepEqual(
    blocks.map((b) => [b.cpu, b.count, b.leaves.length]),
    [
      [0, 1, 0],
      [1, 1, 1],
      [2, 1, 0],
    ],
  );
  assert.equal(profileFromCpuidR(text, "dump", 2).cpuid.get(0)!.eax, 0x11);
  assert.equal(profileFromCpuidR(text, "dump").cpuid.get(0)!.eax, 0xd);
  // The default is the first block with leaves when there is no CPU 0, even after an empty block.
  assert.equal(profileFromCpuidR(`CPU 5:\nCPU 7:\n${leaf0(0x7)}`, "dump").cpuid.get(0)!.eax, 7);
  assert.throws(
    () => parseCpuidR(`${text}CPU 3:\n   0x1 0x0: eax=0xZZ\n`, "bad", (cpu) => cpu === 0),
    (e: unknown) => e instanceof InvalidDataError && e.line === 8,
  );
});
