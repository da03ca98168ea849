/**
 * `probe --under`: a runtime that dies in a case, bad command lines, and the real runtimes where
 * installed (Debian's qemu-user and runsc; CI installs both).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import type { ConformanceJson } from "../../src/core/probe/conformance.ts";
import { helperStatus, spawnRunner } from "../../src/node/native.ts";

const status = helperStatus();
const needHelper = status.ok ? {} : { skip: `native helper cannot run here: ${status.reason}` };

function installed(cmd: string, args: string[]): { skip?: string } {
  if (!status.ok) return { skip: `native helper cannot run here: ${status.reason}` };
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  return r.error || r.status !== 0 ? { skip: `'${cmd}' is not installed or does not run here` } : {};
}

async function under(
  cmd: string,
  ...extra: string[]
): Promise<{ code: number; doc: ConformanceJson; err: string }> {
  const io = memoryIo();
  const code = await run(["probe", "--under", cmd, "--json", ...extra], io);
  assert.ok(code === 0 || code === 1, `exit ${code}: ${io.err}`);
  return { code, doc: JSON.parse(io.out) as ConformanceJson, err: io.err };
}

const byId = (doc: ConformanceJson) => new Map(doc.cases.map((c) => [c.id, c]));

/** A "runtime" that runs the helper and dies, exit 2, when it starts case `id` (as gVisor's sentry does on a panic). */
const CRASHY = `
import { spawn } from "node:child_process";
const [id, ...cmd] = process.argv.slice(2);
const child = spawn(cmd[0], cmd.slice(1), { stdio: ["inherit", "pipe", "inherit"] });
let buf = "";
child.stdout.on("data", (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, nl + 1);
    buf = buf.slice(nl + 1);
    process.stdout.write(line);
    if (line.includes(JSON.stringify({ start: id }).slice(1, -1).replace(":", ": "))) {
      child.kill("SIGKILL");
      process.stderr.write("sandbox panic: fpregs rejected\\n");
      process.exitCode = 2;
      process.stdout.end();
      setImmediate(() => process.exit(2));
      return;
    }
  }
});
child.on("exit", (code) => { if (process.exitCode !== 2) process.exit(code ?? 1); });
`;

test(
  "a runtime that dies in a case: that case is 'crashed', the rest run in a new instance",
  needHelper,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-under-"));
    const script = join(dir, "crashy.mjs");
    writeFileSync(script, CRASHY);
    const cases = "untouched,patterns,magic2-bad,null-fpstate";
    const { code, doc } = await under(`'${process.execPath}' '${script}' magic2-bad`, "--cases", cases);
    assert.equal(code, 1);
    assert.deepEqual(
      doc.cases.map((c) => [c.id, c.observed]),
      [
        ["untouched", byId(doc).get("untouched")!.predictions![doc.reference.policy].letters],
        ["patterns", byId(doc).get("patterns")!.predictions![doc.reference.policy].letters],
        ["magic2-bad", "crashed"],
        ["null-fpstate", byId(doc).get("null-fpstate")!.predictions![doc.reference.policy].letters],
      ],
    );
    const d = doc.deviations.find((x) => x.id === "magic2-bad")!;
    assert.equal(d.runtime.observed, "crashed");
    assert.match(
      d.runtime.notes.join("\n"),
      /exited with code 2 during this case: sandbox panic: fpregs rejected/,
    );
    // Linux's side is still predicted, from the frame another case delivered.
    assert.match(d.linux.observed, /^F0/);
    assert.deepEqual(
      doc.deviations.map((x) => x.id),
      ["magic2-bad"],
    );
    assert.deepEqual(doc.delivery, []);
    assert.equal(doc.conforms, false);
  },
);

test("probe --under: bad command lines are exit 2, a runtime that cannot run the helper exit 4", async () => {
  for (const [cmd, code, msg] of [
    ["", 2, /^sigframe: --under: no command\n$/],
    ["qemu-x86_64 | tee x", 2, /^sigframe: --under: '\|' needs a shell/],
    ["'unterminated", 2, /unterminated single quote/],
    ["/nonexistent/runtime --flag", 4, /^sigframe: --under: .*\/nonexistent\/runtime: command not found\n$/],
    ["false", 4, /^sigframe: --under: sigframe-helper under false cpuid failed: exit code 1\n$/],
  ] as const) {
    if (code === 4 && !status.ok) continue;
    const io = memoryIo();
    assert.equal(await run(["probe", "--under", cmd], io), code, `${cmd}: ${io.err}`);
    assert.equal(io.out, "");
    assert.match(io.err, msg);
  }
});

/** Writes an executable shell script `name` into a new directory; its path. */
function script(name: string, body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-runtime-"));
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

test(
  "a runtime that crashes, exits 127 or prints what the helper does not: exit 4, one line",
  needHelper,
  async () => {
    for (const [name, body, msg] of [
      ["segv", "kill -SEGV $$", /cpuid failed: killed by SIGSEGV\n$/],
      [
        "notfound",
        'echo "exec: $1: not found" >&2; exit 127',
        /cpuid failed: exit code 127 \(could not run the helper\): exec: .*: not found\n$/,
      ],
      // An emulator's own message on stdout, then a JSON document cut short.
      [
        "garbage",
        "echo 'qemu: uncaught target signal 11 (Segmentation fault)'; echo '{\"helper\": '",
        /cpuid: unexpected helper output: not JSON\n$/,
      ],
      // The helper's cpuid and frame pass through; the probe prints nothing of the protocol.
      [
        "garbage-probe",
        'case "$2" in probe) echo null; exit 0;; esac; exec "$@"',
        /probe: unexpected helper output: /,
      ],
      [
        "silent-probe",
        'case "$2" in probe) exit 0;; esac; exec "$@"',
        /probe failed: no output \(exit code 0\)\n$/,
      ],
    ] as const) {
      const io = memoryIo();
      const code = await run(["probe", "--under", script(name, body), "--cases", "untouched,patterns"], io);
      assert.equal(code, 4, `${name}: ${io.err}`);
      assert.equal(io.out, "", name);
      assert.match(io.err, /^sigframe: --under: /, name);
      assert.match(io.err, msg, name);
      assert.equal(io.err.split("\n").length, 2, `${name}: one line: ${io.err}`);
    }
  },
);

/** Whether `pid` is a live process (a zombie waiting for its parent is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

test("a runtime that hangs, or leaves a process holding its output: the timeout ends it and its whole process group", () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-runtime-"));
  for (const [name, body] of [
    ["hangs", `sleep 300 & echo $! > "${dir}/hangs.pid"; sleep 300`],
    ["leaves-a-child", `sleep 300 & echo $! > "${dir}/leaves-a-child.pid"; echo '{}'; exit 0`],
  ] as const) {
    const runner = spawnRunner([script(name, body)], `sigframe-helper under ${name}`, "--under", {
      group: true,
    });
    const o = runner.run(["cpuid"], "", 1000);
    assert.equal(o.error, "did not finish in 1 s", name);
    const pid = Number(readFileSync(join(dir, `${name}.pid`), "utf8"));
    // SIGKILL is delivered before kill() returns; the orphan's reaping by init may lag a little.
    for (let i = 0; i < 200 && alive(pid); i++) spawnSync("sleep", ["0.05"]);
    assert.equal(alive(pid), false, `${name}: its background process ${pid} is gone`);
  }
});

test(
  "probe --under qemu-x86_64 -cpu max: QEMU's measured deviations from Linux, and where it agrees",
  installed("qemu-x86_64", ["--version"]),
  async () => {
    const { code, doc } = await under("qemu-x86_64 -cpu max");
    assert.equal(code, 1);
    assert.equal(doc.under, "qemu-x86_64 -cpu max");
    assert.ok(doc.reference.policy === "classic" || doc.reference.policy === "refined");
    const deviating = new Set(doc.deviations.map((d) => d.id));
    // Measured with Debian's qemu-user 7.2 (linux-user/i386/signal.c, target/i386/tcg/fpu_helper.c):
    // no reset for a NULL fpstate, reserved MXCSR bits loaded instead of #GP, no xstate_size bounds.
    for (const id of ["null-fpstate", "mxcsr-reserved", "mxcsr-reserved-fxrstor", "xstate-size-below-min"])
      assert.ok(deviating.has(id), `${id} deviates`);
    const nul = doc.deviations.find((d) => d.id === "null-fpstate")!;
    assert.equal(
      nul.runtime.observed.replaceAll("-", "").replaceAll("A", ""),
      "",
      "registers left as they were",
    );
    assert.equal(nul.linux.observed.replaceAll("-", "").replaceAll("0", ""), "", "Linux resets them to init");
    assert.equal(byId(doc).get("mxcsr-reserved")!.outcome, "returned");
    // The same answer as Linux where the frame is well-formed or plainly broken.
    for (const id of [
      "untouched",
      "patterns",
      "magic1-bad",
      "magic2-bad",
      "relocated",
      "misaligned-16-magic1-bad",
    ])
      assert.ok(
        doc.cases.find((c) => c.id === id && !deviating.has(id)),
        `${id} agrees`,
      );
    assert.deepEqual(
      doc.delivery.map((d) => d.field),
      ["uc_flags", "fpstate - ucontext"],
    );
    assert.ok(doc.skipped.some((s) => s.id === "compacted" && /XSAVEC/.test(s.reason)));
  },
);

test(
  "probe --under runsc (gVisor, ptrace platform): completes and lists where gVisor's sigreturn departs",
  installed("runsc", ["--network=none", "--platform=ptrace", "do", "true"]),
  async () => {
    const { doc } = await under("runsc --network=none --platform=ptrace do");
    assert.equal(doc.under, "runsc --network=none --platform=ptrace do");
    assert.equal(doc.kernel, "4.4.0", "gVisor reports its own kernel release");
    const deviating = new Set(doc.deviations.map((d) => d.id));
    // gVisor sanitizes what it restores (pkg/sentry/arch/fpu SanitizeUser: MXCSR masked, XCOMP_BV
    // zeroed) and copies the state without XRSTOR's alignment rule, where Linux sends SIGSEGV.
    for (const id of ["mxcsr-reserved", "xcomp-bv-one", "misaligned-8"]) {
      assert.ok(deviating.has(id), `${id} deviates`);
      assert.equal(doc.deviations.find((d) => d.id === id)!.linux.observed, "SIGSEGV");
    }
    for (const id of ["untouched", "patterns"]) assert.ok(!deviating.has(id), `${id} agrees`);
    assert.ok(doc.delivery.some((d) => d.field === "uc_flags"));
  },
);

test(
  "probe --foreign: a recorded frame handed to this kernel's sigreturn, predicted like every case",
  needHelper,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-foreign-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify({ xmm5: `0x${"a5".repeat(16)}`, mxcsr: "0x1f80" }));
    const frame = join(dir, "host.frame");
    const b = memoryIo();
    assert.equal(
      await run(["build", "--cpu", "host", "--state", join(dir, "state.json"), "-o", frame], b),
      0,
      b.err,
    );
    const io = memoryIo();
    const code = await run(["probe", "--cases", "untouched", "--foreign", frame, "--json"], io);
    const doc = JSON.parse(io.out) as ConformanceJson;
    assert.equal(code, 0, io.err);
    const f = doc.cases.find((c) => c.id === "foreign-1")!;
    assert.match(f.description, /^host\.frame: rt_sigframe, xstate_size \d+/);
    assert.ok(f.match, `observed ${f.observed}, predicted ${f.predicted}`);
    assert.equal(f.observed?.[0], "M", "XMM came back from the frame's bytes");
    const bad = memoryIo();
    writeFileSync(join(dir, "empty"), "");
    assert.equal(await run(["probe", "--foreign", join(dir, "empty")], bad), 2);
    assert.equal(bad.out, "");
    assert.equal(bad.err.trim().split("\n").length, 1, bad.err);
  },
);
