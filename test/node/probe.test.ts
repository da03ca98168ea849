import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { parseKernelVersion } from "../../src/core/kernel.ts";
import { SIGALTSTACK_CASE_IDS } from "../../src/core/probe/amx.ts";
import { policiesForKernel } from "../../src/core/sigreturn/index.ts";
import { helperStatus } from "../../src/node/native.ts";
import { runProbe } from "../../src/node/probe.ts";
import { bundledCli } from "../helpers/cli-bundle.ts";
import { REPO_ROOT } from "../helpers/shared.ts";

const status = helperStatus();
const needHelper = status.ok ? {} : { skip: `native helper cannot run here: ${status.reason}` };

test(
  "probe on this kernel: every case matches the model, policy consistent with the kernel",
  needHelper,
  () => {
    const r = runProbe();
    const ran = r.results.filter((c) => !c.skipped);
    assert.ok(ran.length >= 20, `${ran.length} cases ran`);
    const bad = ran.filter((c) => c.observed !== c.predictions?.[r.verdict.comparedWith].letters);
    assert.deepEqual(
      bad.map(
        (c) =>
          `${c.id}: observed ${c.observed}, predicted ${c.predictions?.[r.verdict.comparedWith].letters}`,
      ),
      [],
    );
    assert.equal(r.verdict.mismatches, 0);
    for (const c of ran) {
      if (c.editApplied !== undefined)
        assert.ok(c.editApplied, `${c.id}: the helper applied the edit as asked`);
    }
    assert.ok(r.verdict.policy === "classic" || r.verdict.policy === "refined", `policy ${r.verdict.policy}`);
    const expected = policiesForKernel(parseKernelVersion(r.kernel)).policies;
    if (expected.includes("classic") || expected.includes("refined")) {
      assert.ok(
        expected.includes(r.verdict.policy as "classic"),
        `kernel ${r.kernel}: table says ${expected.join("/")}, probe says ${r.verdict.policy}`,
      );
    }
    // Faults are SIGSEGV from rt_sigreturn (si_code SI_KERNEL), except where a restored PKRU locks
    // key 0 (SEGV_PKUERR, v6.12+) or a frame overflows its sigaltstack (the kernel cannot deliver
    // the SIGSEGV either: no handler runs), and the nested frame left the outer one intact.
    const onAltstack = (id: string) => SIGALTSTACK_CASE_IDS.includes(id);
    for (const c of ran.filter(
      (x) => x.observed === "SIGSEGV" && !x.id.startsWith("pkru-") && !onAltstack(x.id),
    ))
      assert.equal(c.run?.fault?.siCode, 128, c.id);
    for (const c of ran.filter((x) => x.observed === "SIGSEGV" && onAltstack(x.id)))
      assert.equal(c.run?.fault, undefined, `${c.id}: killed before any handler ran`);
    for (const c of ran.filter((x) => x.observed === "SIGSEGV" && x.id.startsWith("pkru-") && x.run?.fault))
      assert.ok([4, 128].includes(c.run!.fault!.siCode), `${c.id}: si_code ${c.run!.fault!.siCode}`);
    const nested = ran.find((c) => c.id === "nested");
    if (nested) assert.equal(nested.run?.inner?.outerIntact, true);
  },
);

for (const isa of ["avx", "sse"] as const) {
  test(`probe with only the ${isa} registers loaded: still no mismatch, same policy`, needHelper, () => {
    const full = runProbe({ cases: ["untouched", "policy-separator"] });
    if (full.isa === "sse" || (full.isa === "avx" && isa === "avx")) return; // nothing narrower to check
    const r = runProbe({ isa });
    const ran = r.results.filter((c) => !c.skipped);
    assert.ok(ran.length >= 20);
    assert.equal(r.isa, isa);
    for (const c of ran) {
      // AMX cases add tile letters or report frame sizes and system calls, sigaltstack cases where
      // the frame landed (probe-amx.test.ts).
      if (c.observed !== "SIGSEGV" && !c.id.startsWith("amx-") && !SIGALTSTACK_CASE_IDS.includes(c.id))
        assert.match(c.observed!, isa === "avx" ? /^..---.$/ : /^.----.$/, c.id);
    }
    assert.equal(r.verdict.mismatches, 0, JSON.stringify(r.verdict.byPolicy));
    assert.equal(
      r.verdict.policy,
      full.verdict.policy === "unknown" ? r.verdict.policy : full.verdict.policy,
    );
  });
}

test(
  "probe --json follows the contract and exits 0; --cases selects; unknown ids are a usage error",
  needHelper,
  async () => {
    const io = memoryIo();
    const code = await run(["probe", "--json", "--cases", "untouched,policy-separator,null-fpstate"], io);
    const j = JSON.parse(io.out);
    assert.equal(code, j.mismatches === 0 ? 0 : 1, io.err);
    for (const k of ["kernel", "policy", "mismatches", "cases"]) assert.ok(k in j, k);
    assert.deepEqual(
      j.cases.map((c: { id: string }) => c.id),
      ["untouched", "policy-separator", "null-fpstate"],
    );
    for (const c of j.cases)
      for (const k of ["id", "description", "observed", "predicted", "match"]) assert.ok(k in c, k);
    assert.equal(
      j.cases
        .find((c: { id: string }) => c.id === "untouched")
        .observed.replaceAll("-", "")
        .replaceAll("A", ""),
      "",
    );
    const bad = memoryIo();
    assert.equal(await run(["probe", "--cases", "nope"], bad), 2);
    assert.match(bad.err, /^sigframe: --cases: unknown case nope/);
  },
);

test("probe and host exit 4 with the reason where the helper cannot run", () => {
  // A fresh process whose helper path points at nothing: what an install without a C compiler gets.
  const dir = mkdtempSync(join(tmpdir(), "sigframe-nohelper-"));
  writeFileSync(join(dir, "UNAVAILABLE"), "cc: not found\n");
  const cli = bundledCli();
  for (const cmd of ["probe", "host"]) {
    const r = spawnSync(process.execPath, [cli, cmd], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, SIGFRAME_HELPER: join(dir, "sigframe-helper") },
    });
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^sigframe: .*native helper was not built: cc: not found\n$/);
  }
});

test("check --to host judges the host by the policy its kernel shows in the probe", needHelper, async () => {
  const probe = memoryIo();
  await run(["probe", "--json"], probe);
  const measured = JSON.parse(probe.out).policy as string;
  const io = memoryIo();
  await run(["check", "--from", "intel-haswell", "--to", "host", "--json"], io);
  const doc = JSON.parse(io.out);
  if (measured !== "unknown") assert.deepEqual(doc.evaluated, [measured]);
  assert.match(doc.note, /probe cases match/);
  const table = memoryIo();
  await run(["check", "--from", "intel-haswell", "--to", "host", "--no-measure", "--json"], table);
  assert.doesNotMatch(table.out, /probe cases match/);
});

test(
  "predict --cpu host measures the policy as check --to host does; --no-measure reads the release",
  needHelper,
  async () => {
    const probe = memoryIo();
    await run(["probe", "--json"], probe);
    const measured = JSON.parse(probe.out).policy as string;
    const dir = mkdtempSync(join(tmpdir(), "sigframe-predict-host-"));
    const f = join(dir, "host.bin");
    assert.equal(await run(["build", "--cpu", "host", "-o", f], memoryIo()), 0);
    const io = memoryIo();
    assert.equal(await run(["predict", f, "--cpu", "host", "--json"], io), 0, io.err);
    const doc = JSON.parse(io.out);
    assert.match(doc.note, /policy measured on this kernel/);
    if (measured !== "unknown")
      assert.equal(doc.policy, measured, "the probe's policy, whatever this host's is");
    const table = memoryIo();
    assert.equal(await run(["predict", f, "--cpu", "host", "--no-measure", "--json"], table), 0, table.err);
    const t = JSON.parse(table.out);
    assert.doesNotMatch(t.note ?? "", /probe cases match/);
    const release = (await import("node:os")).release();
    assert.equal(t.kernel, release);
    const expected = policiesForKernel(parseKernelVersion(release)).policies;
    const got = "predictions" in t ? t.predictions.map((p: { policy: string }) => p.policy) : [t.policy];
    assert.deepEqual(got, expected);
    // Any other CPU still needs the policy named.
    const other = memoryIo();
    assert.equal(await run(["predict", f, "--cpu", "amd-zen4"], other), 2);
    assert.match(other.err, /give exactly one of --kernel K, --policy P, --all-policies/);
  },
);
