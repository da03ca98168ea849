/**
 * `abi-test`: a distribution kernel booted under qemu-system-x86_64 (TCG) with the probe as /init.
 * The kernel comes from SIGFRAME_TEST_KERNEL: .ci/run downloads Debian's linux-image-amd64 and
 * unpacks its vmlinuz; elsewhere the boots are skipped with that reason.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { SCHEMA_DIR } from "../../scripts/json-schema.ts";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { parseKernelVersion } from "../../src/core/kernel.ts";
import type { AbiTestJson } from "../../src/core/probe/abi-test.ts";
import { policiesForKernel } from "../../src/core/sigreturn/index.ts";
import { staticHelperStatus } from "../../src/node/native.ts";
import { CLI_BIN } from "../helpers/cli-bundle.ts";
import { validate } from "../helpers/json-schema.ts";

const kernel = process.env.SIGFRAME_TEST_KERNEL;
const qemu = spawnSync("qemu-system-x86_64", ["--version"], { encoding: "utf8" });
const helper = staticHelperStatus();
const canBoot = !kernel
  ? "SIGFRAME_TEST_KERNEL is not set (.ci/run sets it to Debian's vmlinuz)"
  : qemu.error || qemu.status !== 0
    ? "qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
    : !helper.ok
      ? helper.reason
      : false;

test("abi-test: bad input is exit 2 with one line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-abi-"));
  const notKernel = join(dir, "vmlinuz");
  writeFileSync(notKernel, Buffer.alloc(8192, 0x41));
  for (const [args, msg] of [
    [["--kernel", notKernel], /^sigframe: .*vmlinuz: 0x202: not an x86 bzImage \(no .HdrS. boot header\)\n$/],
    [["--kernel", join(dir, "missing")], /^sigframe: .*missing: cannot read the kernel/],
    [["--kernel", notKernel, "--accel", "hvf"], /^sigframe: --accel: expected auto, kvm or tcg/],
    [["--kernel", notKernel, "--boot-timeout", "0"], /^sigframe: --boot-timeout: expected seconds/],
    [[], /required option '--kernel <VMLINUZ>'/],
  ] as const) {
    const io = memoryIo();
    assert.equal(await run(["abi-test", ...args], io), 2, `${args.join(" ")}: ${io.err}`);
    assert.equal(io.out, "");
    assert.match(io.err, msg);
    assert.equal(io.err.trim().split("\n").length, 1, io.err);
  }
});

/** A bzImage-shaped file whose payload is a gzip of something that is not an ELF kernel. */
function fakeKernel(dir: string): string {
  const payload = gzipSync(Buffer.alloc(4096, 0x90));
  const pm = 4 * 512;
  const b = Buffer.alloc(pm + payload.length + 4);
  b[0x1f1] = 3;
  b.writeUInt32LE(0x53726448, 0x202);
  b.writeUInt16LE(0x20f, 0x206);
  b.writeUInt32LE(0, 0x248);
  b.writeUInt32LE(payload.length + 4, 0x24c);
  payload.copy(b, pm);
  b.writeUInt32LE(4096, pm + payload.length);
  const path = join(dir, "bzImage");
  writeFileSync(path, b);
  return path;
}

test("abi-test: exit 4 with the reason without QEMU or without the static helper", () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-abi-"));
  const k = fakeKernel(dir);
  const cli = (env: Record<string, string>) =>
    spawnSync(process.execPath, [CLI_BIN, "abi-test", "--kernel", k, "--accel", "tcg"], {
      encoding: "utf8",
      env: { ...process.env, XDG_CACHE_HOME: join(dir, "cache"), ...env },
    });
  const noQemu = cli({ PATH: join(dir, "empty") });
  assert.equal(noQemu.status, 4, noQemu.stderr);
  assert.equal(noQemu.stdout, "");
  assert.match(
    noQemu.stderr,
    /^sigframe: abi-test: qemu-system-x86_64 is not installed .*qemu-system-x86\)\n$/,
  );
  if (!qemu.error && qemu.status === 0) {
    const noHelper = cli({ SIGFRAME_HELPER_STATIC: join(dir, "missing", "sigframe-helper-static") });
    assert.equal(noHelper.status, 4, noHelper.stderr);
    assert.match(
      noHelper.stderr,
      /^sigframe: abi-test: the static native helper \(sigframe-helper-static\) is not built/,
    );
  }
});

test("abi-test: an unknown CPU model is a usage error from QEMU", { skip: canBoot }, async () => {
  const io = memoryIo();
  assert.equal(
    await run(["abi-test", "--kernel", kernel!, "--accel", "tcg", "--cpu-model", "no-such-cpu"], io),
    2,
  );
  assert.match(io.err, /^sigframe: --cpu-model: .*no-such-cpu/);
});

test("abi-test on the distribution kernel, two CPU models under TCG: its policy from the guest's results, every case predicted", {
  skip: canBoot,
}, async () => {
  // A recorded frame from another CPU (Haswell layout, AVX only) handed to the guest's sigreturn.
  const dir = mkdtempSync(join(tmpdir(), "sigframe-abi-"));
  writeFileSync(join(dir, "state.json"), JSON.stringify({ ymm3: `0x${"5a".repeat(32)}`, mxcsr: "0x1f80" }));
  const frame = join(dir, "haswell.frame");
  const b = memoryIo();
  assert.equal(
    await run(["build", "--cpu", "intel-haswell", "--state", join(dir, "state.json"), "-o", frame], b),
    0,
    b.err,
  );
  const io = memoryIo();
  const args = ["abi-test", "--kernel", kernel!, "--accel", "tcg", "--boot-timeout", "60", "--json"];
  const code = await run(
    [...args, "--cpu-model", "max", "--cpu-model", "SandyBridge", "--foreign", frame],
    io,
  );
  assert.equal(code, 0, io.err);
  const doc = JSON.parse(io.out) as AbiTestJson;
  // The contract's schema (test/contract.test.ts checks it is the one generated from the types).
  const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, "abi-test.schema.json"), "utf8"));
  assert.deepEqual(validate(schema, doc).slice(0, 10), []);
  const expected = policiesForKernel(parseKernelVersion(doc.kernel)).policies;
  if (/^6\.1\./.test(doc.kernel)) assert.equal(doc.policy, "classic", "Debian 12's 6.1 kernel");
  else assert.ok(expected.includes(doc.policy as "classic"), `${doc.kernel}: ${doc.policy} vs ${expected}`);
  assert.equal(doc.qemu.accel, "tcg");
  assert.ok(doc.limits.some((l) => /MXCSR/.test(l)));
  assert.deepEqual(
    doc.boots.map((x) => x.qemu.model),
    ["max", "SandyBridge"],
  );
  for (const boot of doc.boots) {
    assert.equal(boot.kernel, doc.kernel);
    assert.ok(boot.bootSeconds > 0 && boot.probeSeconds > 0);
    assert.equal(boot.mismatches, 0, JSON.stringify(boot.policyMismatches));
    assert.equal(boot.policy, doc.policy);
    assert.ok(boot.cases.length >= 30, `${boot.cases.length} cases ran`);
    for (const c of boot.cases) {
      assert.ok(c.predictions, `${boot.qemu.model} ${c.id} is predicted`);
      assert.ok(c.match, `${boot.qemu.model} ${c.id}: observed ${c.observed}, predicted ${c.predicted}`);
    }
    const foreign = boot.cases.find((c) => c.id === "foreign-1");
    assert.ok(foreign?.match, "the recorded frame is predicted");
    assert.match(foreign!.description, /haswell\.frame: rt_sigframe, xstate_size 832/);
    // Its YMM state came back from the frame (M: the frame's bytes, not the probe's pattern).
    assert.equal(foreign!.observed?.slice(0, 2), "MM");
    if (doc.policy === "classic") assert.deepEqual(boot.departures, []);
  }
  const [max, snb] = doc.boots;
  assert.notEqual(max!.userSize, snb!.userSize, "two different layouts");
});

/** Child processes of `pid` whose command is `comm`. */
function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && m[1] === comm && m[2] !== "Z" && Number(m[3]) === pid) out.push(Number(d));
    } catch {} // gone meanwhile
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * A "QEMU" that answers --version and then sits silent, as a guest waiting for its next command
 * does: nothing it writes can fail and end it, so only the CLI can.
 */
function silentQemu(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "qemu-system-x86_64"),
    '#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version 7.2.22"; exit 0; fi\nexec sleep 300\n',
    { mode: 0o755 },
  );
  return bin;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`abi-test ended by ${signal} while the guest runs: QEMU goes with it`, {
    skip: helper.ok ? false : helper.reason,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-abi-"));
    const env = {
      ...process.env,
      PATH: `${silentQemu(dir)}:${process.env.PATH}`,
      XDG_CACHE_HOME: join(dir, "cache"),
    };
    const args = [CLI_BIN, "abi-test", "--kernel", fakeKernel(dir), "--accel", "tcg"];
    const child = spawn(process.execPath, args, { stdio: "ignore", env });
    const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal })),
    );
    let guest: number[] = [];
    try {
      // Bounded: 600 looks, 0.1 s apart, for the CLI to start its QEMU.
      for (let i = 0; i < 600 && guest.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        guest = childrenNamed(child.pid!, "sleep");
      }
      assert.equal(guest.length, 1, "QEMU started");
      child.kill(signal);
      assert.deepEqual(await closed, { code: null, signal }, "the CLI still ends by the signal");
      for (let i = 0; i < 100 && alive(guest[0]!); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(guest[0]!), false, `QEMU ${guest[0]} is gone`);
    } finally {
      child.kill("SIGKILL");
      await closed;
      for (const pid of guest) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });
}
