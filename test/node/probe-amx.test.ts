import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { hex } from "../../src/core/hex.ts";
import { parseKernelVersion } from "../../src/core/kernel.ts";
import { AMX_CASE_IDS, SIGALTSTACK_CASE_IDS } from "../../src/core/probe/amx.ts";
import { minSigStkSz } from "../../src/core/sigframe/stack.ts";
import { policiesForKernel } from "../../src/core/sigreturn/index.ts";
import { amxUnavailableReason } from "../../src/core/xsave/amx.ts";
import { XFEATURE } from "../../src/core/xsave/components.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { helperStatus } from "../../src/node/native.ts";
import { runProbe } from "../../src/node/probe.ts";
import { hostProfile } from "../../src/node/profile-source.ts";

const status = helperStatus();
const host = status.ok ? hostProfile() : undefined;
const noAmx = host ? amxUnavailableReason(computeLayout(host)) : undefined;
const needHelper = status.ok ? {} : { skip: `native helper cannot run here: ${status.reason}` };
const needAmx = !status.ok ? needHelper : noAmx ? { skip: `this host has no AMX: ${noAmx}` } : {};

describe("AMX on the running kernel", () => {
  test(
    "AT_MINSIGSTKSZ: the model equals this host's (max_size includes tile data where the CPU has it)",
    needHelper,
    () => {
      assert.ok(host!.atMinSigStkSz !== undefined);
      assert.equal(minSigStkSz(computeLayout(host!)), host!.atMinSigStkSz);
    },
  );

  test(
    "without AMX the AMX cases are skipped with the reason",
    noAmx && status.ok ? {} : { skip: "this host has AMX (or no helper)" },
    () => {
      const r = runProbe({ cases: [...AMX_CASE_IDS] });
      assert.equal(r.results.length, AMX_CASE_IDS.length);
      for (const c of r.results) assert.match(c.skipped ?? "", /^no AMX: /, c.id);
    },
  );

  test(
    "host: the AMX task's frame as measured agrees with layout --amx; AT_MINSIGSTKSZ with the model",
    needAmx,
    async () => {
      const io = memoryIo();
      assert.equal(await run(["host", "--json"], io), 0, io.err);
      const j = JSON.parse(io.out);
      const amx = computeLayout(hostProfile(), { amx: true });
      assert.equal(j.observedAmx.xstateSize, amx.userSize);
      assert.equal(j.observedAmx.xfeatures, hex(amx.userFeatures));
      assert.ok(j.observedAmx.xstateSize > j.observed.xstateSize);
      const human = memoryIo();
      await run(["host"], human);
      assert.match(
        human.out,
        /^layout model --amx: user_size \d+, features 0x[0-9a-f]+: agrees with the kernel$/m,
      );
      assert.match(human.out, /^AT_MINSIGSTKSZ model: \d+: agrees with the kernel$/m);
    },
  );

  test("every AMX case matches the model under the policy the kernel implements", needAmx, () => {
    const r = runProbe({ cases: [...AMX_CASE_IDS] });
    const ran = r.results.filter((c) => !c.skipped);
    assert.ok(ran.length >= 4, `${ran.length} AMX cases ran`);
    const policies = policiesForKernel(parseKernelVersion(r.kernel)).policies;
    const policy = policies.includes("classic") ? "classic" : policies[0]!;
    const bad = ran.filter((c) => c.observed !== c.predictions?.[policy].letters || c.editApplied === false);
    assert.deepEqual(
      bad.map(
        (c) => `${c.id}: observed ${c.observed}, ${policy} predicts ${c.predictions?.[policy].letters}`,
      ),
      [],
    );
    // The cases that separate classic from refined do so here too.
    const sep = ran.find((c) => c.id === "amx-default-size-frame")!;
    assert.notEqual(sep.predictions!.classic.letters, sep.predictions!.refined.letters);
  });

  test(
    "layout --amx, predict --amx and check --uses agree with what the probe measured",
    needAmx,
    async () => {
      const r = runProbe({ cases: ["amx-frame", "amx-default-size-frame", "amx-frame-without-permission"] });
      const byId = (id: string) => r.results.find((c) => c.id === id)!;

      // layout --amx: the size of the frame the kernel delivered to the task that loaded tiles.
      const frame = byId("amx-frame").run!.delivered!;
      const lay = memoryIo();
      assert.equal(await run(["layout", "host", "--amx", "--json"], lay), 0, lay.err);
      const lj = JSON.parse(lay.out);
      assert.equal(lj.userSize, frame.sw!.xstateSize);
      assert.equal(lj.userFeatures, hex(frame.sw!.xfeatures));

      // predict --amx on the very bytes the probe handed to sigreturn.
      const c = byId("amx-default-size-frame");
      const placed = c.run!.placed!;
      const dir = mkdtempSync(join(tmpdir(), "sigframe-amx-"));
      const file = join(dir, "fpstate.bin");
      writeFileSync(file, placed.bytes);
      const pr = memoryIo();
      const args = ["predict", "--cpu", "host", "--amx", "--policy", "classic", "--fpstate-only", file];
      args.push("--address", hex(placed.address), "--readable-bytes", String(placed.bytes.length), "--json");
      assert.equal(await run(args, pr), 0, pr.err);
      const pj = JSON.parse(pr.out);
      const comp = (b: number) => pj.components.find((x: { bit: number }) => x.bit === b);
      // Observed FFFFFFA0: registers from the frame, TILECFG from the frame, tile data init.
      assert.equal(c.observed, "FFFFFFA0");
      assert.equal(comp(XFEATURE.XTILECFG).result, "frame");
      assert.equal(comp(XFEATURE.XTILEDATA).result, "init");
      assert.equal(comp(XFEATURE.Hi16_ZMM).result, "frame");

      // check --uses with tile data: the AMX task's kernel frame restored in a task without the
      // permission falls back to FX-only, as amx-frame-without-permission measured.
      const without = byId("amx-frame-without-permission");
      const io = memoryIo();
      const uses = hex(computeLayout(hostProfile(), { amx: true }).userFeatures);
      await run(
        ["check", "--from", "host", "--to", "host", "--uses", uses, "--policy", "classic", "--json"],
        io,
      );
      const cj = JSON.parse(io.out);
      const kernel = cj.policies.classic.frames.find((f: { frame: string }) => f.frame === "kernel");
      assert.equal(kernel.path, "fxrstor-fallback");
      assert.equal(without.observed, without.predictions!.classic.letters);
      assert.equal(without.predictions!.classic.path, "fxrstor-fallback");
    },
  );
});

describe("signal frames on a sigaltstack, on the running kernel", () => {
  test("the frame lands where get_sigframe() puts it; one byte less kills the task", needHelper, () => {
    const r = runProbe({ cases: [...SIGALTSTACK_CASE_IDS] });
    const ran = r.results.filter((c) => !c.skipped);
    assert.equal(ran.length, SIGALTSTACK_CASE_IDS.length, JSON.stringify(r.results.map((c) => c.skipped)));
    for (const c of ran) assert.equal(c.observed, c.predictions?.classic.letters, c.id);
    assert.match(ran.find((c) => c.id === "sigaltstack-frame-fits")!.observed ?? "", /^frame at ss_sp\+\d+$/);
    assert.equal(ran.find((c) => c.id === "sigaltstack-frame-overflows")!.observed, "SIGSEGV");
  });
});
