import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { Cpuid } from "../../src/core/cpuid/cpuid.ts";
import { profileFromCpuidR } from "../../src/core/profiles/cpuid-r.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { helperStatus, nativeCpuid, nativeFrame, nativeHostProfile } from "../../src/node/native.ts";

const status = helperStatus();
const needHelper = status.ok ? {} : { skip: `native helper cannot run here: ${status.reason}` };

function devCpuid(leaf: number, sub: number): number[] | undefined {
  let fd: number;
  try {
    fd = openSync("/dev/cpu/0/cpuid", "r");
  } catch {
    return undefined;
  }
  try {
    const b = new Uint8Array(16);
    if (readSync(fd, b, 0, 16, BigInt(sub) * 2n ** 32n + BigInt(leaf)) !== 16) return undefined;
    const dv = new DataView(b.buffer);
    return [0, 4, 8, 12].map((o) => dv.getUint32(o, true));
  } finally {
    closeSync(fd);
  }
}

test("helper cpuid on CPU 0 equals /dev/cpu/0/cpuid leaf for leaf", needHelper, (t) => {
  if (!existsSync("/dev/cpu/0/cpuid") || devCpuid(0, 0) === undefined) {
    t.skip("/dev/cpu/0/cpuid is not readable (cpuid driver not loaded or no permission)");
    return;
  }
  const c = nativeCpuid({ cpu: 0 });
  assert.equal(c.cpu, 0);
  const leaves = new Set(c.leaves.map((l) => l.leaf));
  assert.ok(leaves.has(0) && leaves.has(1) && leaves.has(0x80000000));
  assert.equal(c.leaves.filter((l) => l.leaf === 0xd).length, 64, "all 64 sub-leaves of 0xD");
  for (const l of c.leaves) {
    assert.deepEqual(
      [l.eax, l.ebx, l.ecx, l.edx],
      devCpuid(l.leaf, l.subleaf),
      `leaf 0x${l.leaf.toString(16)}.${l.subleaf}`,
    );
  }
});

test("helper cpuid agrees with 'cpuid -r' where it is installed", needHelper, (t) => {
  const r = spawnSync("taskset", ["-c", "0", "cpuid", "-r", "-1"], { encoding: "utf8", timeout: 20_000 });
  if (r.error || r.status !== 0) {
    t.skip("'cpuid' (or 'taskset') is not installed");
    return;
  }
  const theirs = profileFromCpuidR(r.stdout, "cpuid -r").cpuid;
  const ours = new Cpuid(nativeCpuid({ cpu: 0 }).leaves);
  let compared = 0;
  for (const l of ours.leaves) {
    const o = theirs.leaves.find((x) => x.leaf === l.leaf && x.subleaf === l.subleaf);
    if (!o) continue;
    compared++;
    assert.deepEqual(
      [l.eax, l.ebx, l.ecx, l.edx],
      [o.eax, o.ebx, o.ecx, o.edx],
      `leaf 0x${l.leaf.toString(16)}.${l.subleaf}`,
    );
  }
  assert.ok(compared >= 20, `compared ${compared} leaves`);
});

test(
  "helper: XCR0, MXCSR_MASK, AT_MINSIGSTKSZ and the register set are consistent with CPUID",
  needHelper,
  () => {
    const c = nativeCpuid();
    const cpu = new Cpuid(c.leaves);
    assert.equal(c.uname.machine, "x86_64");
    if (cpu.has("OSXSAVE")) {
      assert.ok(c.xcr0 !== undefined && (c.xcr0 & 3n) === 3n, "XCR0 has x87 and SSE");
      const sl0 = cpu.get(0xd, 0)!;
      assert.equal(c.xcr0 & ~BigInt(sl0.eax), 0n, "XCR0 only has bits CPUID(0xD,0).EAX supports");
      if (cpu.has("XGETBV1")) assert.ok(c.xinuse !== undefined);
    }
    assert.ok((c.mxcsrMask & 0xffbf) === 0xffbf, "MXCSR_MASK covers the default bits");
    assert.ok(c.atMinSigStkSz === 0 || c.atMinSigStkSz > 512);
    const want =
      cpu.has("AVX512F") && c.xcr0 !== undefined && (c.xcr0 & 0xe6n) === 0xe6n
        ? "avx512"
        : cpu.has("AVX") && c.xcr0 !== undefined && (c.xcr0 & 6n) === 6n
          ? "avx"
          : "sse";
    assert.equal(c.isa, want);
  },
);

test(
  "helper frame: the kernel's frame matches the layout model (sigframe host vs layout host)",
  needHelper,
  async () => {
    const f = nativeFrame();
    assert.equal(f.address % 64n, 0n, "fpstate is 64-byte aligned");
    const p = nativeHostProfile();
    const l = computeLayout(p);
    if (!l.xsave) return;
    assert.equal(f.sw?.magic1, 0x46505853);
    assert.equal(f.sw?.xstateSize, l.userSize);
    assert.equal(f.sw?.extendedSize, l.userSize + 4);
    assert.equal(f.sw?.xfeatures, l.userFeatures);
    assert.equal(f.magic2, 0x46505845);
    assert.equal(f.bytes.length, l.userSize + 4);
    // The CLI commands say the same.
    const io = memoryIo();
    assert.equal(await run(["host", "--json"], io), 0, io.err);
    const host = JSON.parse(io.out);
    assert.equal(host.format, "sigframe-profile/1");
    const io2 = memoryIo();
    assert.equal(await run(["layout", "host", "--json"], io2), 0, io2.err);
    assert.equal(JSON.parse(io2.out).frame.xstateSize, host.observed.xstateSize);
    assert.equal(host.observed.fpstateOffset, f.fpstateOffset);
  },
);

test("host --save writes the profile atomically and it loads back as a PROFILE", needHelper, async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-host-"));
  const file = join(dir, "host.json");
  const io = memoryIo();
  assert.equal(await run(["host", "--save", file], io), 0, io.err);
  assert.match(io.out, /xstate_size/);
  const io2 = memoryIo();
  assert.equal(await run(["layout", file, "--json"], io2), 0, io2.err);
  const io3 = memoryIo();
  await run(["layout", "host", "--json"], io3);
  assert.equal(JSON.parse(io2.out).userSize, JSON.parse(io3.out).userSize);
});

test("helperStatus says why the helper is missing", () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-native-"));
  mkdirSync(join(dir, "build"));
  const path = join(dir, "build", "sigframe-helper");
  const s1 = helperStatus(path);
  assert.equal(s1.ok, false);
  if (process.platform === "linux" && process.arch === "x64") {
    assert.match((s1 as { reason: string }).reason, /not built/);
    writeFileSync(join(dir, "build", "UNAVAILABLE"), "cc: spawn cc ENOENT\n");
    assert.match((helperStatus(path) as { reason: string }).reason, /cc: spawn cc ENOENT/);
  } else {
    assert.match((s1 as { reason: string }).reason, /Linux on x86-64/);
  }
});
