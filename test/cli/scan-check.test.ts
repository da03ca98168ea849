/** `check --checkpoint DIR` / `check --core FILE`: the found frames and thread states, judged on B. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { profileToJson } from "../../src/core/profiles/json.ts";
import { readProfile } from "../../src/node/profile-source.ts";
import { sf } from "../helpers/cli.ts";
import { CORPUS, FIXTURES, needs } from "../helpers/shared.ts";

// biome-ignore lint/suspicious/noExplicitAny: JSON documents
type J = any;
const truth = (s: string): J => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
const fixtures = needs(FIXTURES, "signal-frame fixtures");
const icx = join(CORPUS, "intel-xeon-platinum-8351n-cpu-2-40ghz.json");

describe("check --core / --checkpoint", fixtures, () => {
  test("nested frames back on the same host: every frame and the thread state restore intact", async () => {
    const core = join(FIXTURES, "core", "S3.kernel.core");
    const r = await sf("check", "--core", core, "--to", core, "--json");
    assert.equal(r.code, 0, r.err + r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.verdict, "compatible");
    const tid = truth("S3").threads[0].tid;
    assert.deepEqual(
      j.frames.map((f: J) => [f.id, f.style]),
      [
        [`t${tid}-d1`, "core"],
        [`t${tid}-d2`, "core"],
        [`t${tid}-state`, "criu"],
      ],
    );
    assert.equal(j.uses, "0xe7");
    for (const p of ["legacy", "classic", "refined"]) {
      const fr = j.policies[p].frames;
      assert.equal(fr.length, 3);
      for (const f of fr) {
        assert.equal(f.path, "xrstor", `${p} ${f.frame}`);
        assert.equal(f.intact, true, `${p} ${f.frame}`);
      }
      // The depth-2 frame holds only ymm state: its placements are x87, SSE, YMM.
      const d2 = fr.find((f: J) => f.frame === `t${tid}-d2`);
      assert.deepEqual(
        d2.components.map((c: J) => c.name),
        ["x87", "SSE", "YMM"],
      );
    }
    assert.match(j.note, /evaluated 2 live signal frames found on the stacks and 1 thread state/);
  });

  test("in-handler checkpoint to Ice Lake-SP under the refined policy: the found frame falls back or faults", async () => {
    const r = await sf(
      "check",
      "--checkpoint",
      join(FIXTURES, "criu", "S2"),
      "--to",
      icx,
      "--policy",
      "refined",
      "--json",
    );
    assert.equal(r.code, 3, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.verdict, "incompatible");
    const tid = truth("S2").threads[0].tid;
    assert.equal(j.from.vendor, "AuthenticAMD");
    assert.equal(j.from.userSize, 2432);
    assert.equal(j.to.userSize, 2696);
    const found = j.policies.refined.frames.find((f: J) => f.frame === `t${tid}-d1`);
    assert.ok(found, "the frame found on the stack is evaluated");
    assert.equal(found.style, "checkpoint");
    assert.equal(found.intact, false);
    assert.ok(j.findings.some((f: J) => f.frames?.includes(`t${tid}-d1`) && f.severity === "error"));
  });

  test("in-handler checkpoint against its own machine's cpuinfo.img: compatible (MXCSR with DAZ accepted)", async () => {
    const dir = join(FIXTURES, "criu", "S2");
    const r = await sf(
      "check",
      "--checkpoint",
      dir,
      "--to",
      join(dir, "cpuinfo.img"),
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(r.code, 0, r.err + r.out);
    const j = JSON.parse(r.out);
    const tid = truth("S2").threads[0].tid;
    const found = j.policies.classic.frames.find((f: J) => f.frame === `t${tid}-d1`);
    assert.ok(found, "the frame found on the stack is evaluated");
    assert.deepEqual([found.path, found.signal, found.intact], ["xrstor", null, true]);
    // Its MXCSR sets DAZ; the destination's mask is estimated from CPUID (AMD, MisAlignSse).
    assert.equal(j.to.mxcsrMask, 0x2ffff);
    assert.equal(j.to.mxcsrMaskEstimated, true);
    assert.equal(j.from.mxcsrMaskEstimated, undefined, "the checkpoint's mask is the threads' FXSAVE value");
    assert.ok(j.findings.some((f: J) => f.code === "mxcsr_mask_estimated" && f.severity === "info"));
    assert.ok(!j.findings.some((f: J) => f.severity !== "info"));
  });

  test("the same checkpoint on a CPU whose measured MXCSR_MASK lacks DAZ: the found frame is SIGSEGV", async () => {
    const dir = join(FIXTURES, "criu", "S2");
    const p = readProfile(join(dir, "cpuinfo.img"));
    const file = join(mkdtempSync(join(tmpdir(), "sf-mxcsr-")), "no-daz.json");
    writeFileSync(file, JSON.stringify(profileToJson({ ...p, mxcsrMask: 0xffbf })));
    const r = await sf("check", "--checkpoint", dir, "--to", file, "--policy", "classic", "--json");
    assert.equal(r.code, 3, r.err + r.out);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.to.mxcsrMask, j.to.mxcsrMaskEstimated], [0xffbf, undefined]);
    const tid = truth("S2").threads[0].tid;
    const found = j.policies.classic.frames.find((f: J) => f.frame === `t${tid}-d1`);
    assert.deepEqual([found.signal, found.reason], ["SIGSEGV", "xrstor-gp-mxcsr"]);
    assert.ok(
      j.findings.some(
        (f: J) => f.code === "sigreturn_fault" && f.severity === "error" && f.frames.includes(`t${tid}-d1`),
      ),
    );
  });

  test("a checkpoint without live frames: only the thread's state, with its own xstate_bv", async () => {
    const r = await sf(
      "check",
      "--checkpoint",
      join(FIXTURES, "criu", "S1"),
      "--to",
      join(FIXTURES, "core", "S1.kernel.core"),
      "--json",
    );
    const j = JSON.parse(r.out);
    const tid = truth("S1").threads[0].tid;
    assert.deepEqual(
      j.frames.map((f: J) => f.id),
      [`t${tid}-state`],
    );
    assert.equal(j.uses, "0x7");
  });

  test("S6: the stale frame and the heap copy are not evaluated, and the note says so", async () => {
    const r = await sf(
      "check",
      "--checkpoint",
      join(FIXTURES, "criu", "S6"),
      "--to",
      join(FIXTURES, "core", "S6.kernel.core"),
      "--json",
    );
    const j = JSON.parse(r.out);
    assert.ok(j.frames.every((f: J) => f.style !== "checkpoint"));
    assert.match(j.note, /2 frame-shaped areas are not a live frame/);
  });

  test("--from is the source where it agrees with the frames; where it contradicts them the record wins", async () => {
    const local = join(CORPUS, "local-this-machine.json"); // the Zen 5 the fixtures were made on
    const agree = JSON.parse(
      (
        await sf(
          "check",
          "--checkpoint",
          join(FIXTURES, "criu", "S2"),
          "--from",
          local,
          "--to",
          "intel-icelake-server",
          "--json",
        )
      ).out,
    );
    assert.equal(agree.from.name, "local-this-machine");
    assert.ok(!agree.findings.some((f: J) => f.code === "source_contradicted"));
    const r = await sf(
      "check",
      "--checkpoint",
      join(FIXTURES, "criu", "S2"),
      "--from",
      "intel-icelake-server",
      "--to",
      "intel-icelake-server",
      "--json",
    );
    const j = JSON.parse(r.out);
    assert.equal(j.from.vendor, "AuthenticAMD");
    assert.ok(j.findings.some((f: J) => f.code === "source_contradicted"));
  });

  test("wrong kinds and missing source are usage errors", async () => {
    const a = await sf(
      "check",
      "--checkpoint",
      join(FIXTURES, "core", "S2.core"),
      "--to",
      "intel-icelake-server",
    );
    assert.equal(a.code, 2);
    assert.match(a.err, /--checkpoint takes a CRIU checkpoint directory/);
    const b = await sf("check", "--core", join(FIXTURES, "criu", "S2"), "--to", "intel-icelake-server");
    assert.equal(b.code, 2);
    assert.match(b.err, /--core takes an ELF core file/);
    const c = await sf("check", "--to", "intel-icelake-server");
    assert.equal(c.code, 2);
    assert.match(c.err, /--from/);
  });
});

describe("real AMD frames read with an Intel --from", fixtures, () => {
  test("check --from intel-sapphirerapids --to intel-sapphirerapids --checkpoint S2: the AMD frames win, exit 3", async () => {
    const r = await sf(
      "check",
      "--from",
      "intel-sapphirerapids",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--checkpoint",
      join(FIXTURES, "criu", "S2"),
      "--json",
    );
    assert.equal(r.code, 3, r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.from.vendor, "AuthenticAMD");
    assert.equal(j.verdict, "incompatible");
    const sc = j.findings.find((f: J) => f.code === "source_contradicted");
    assert.match(sc.message, /xstate_size 2432, xfeatures 0xe7.*cpuinfo\.img/);
    // The same with the gcore and the kernel core of that process.
    for (const core of ["S2.core", "S2.kernel.core"]) {
      const c = await sf(
        "check",
        "--from",
        "intel-sapphirerapids",
        "--to",
        "intel-sapphirerapids",
        "--policy",
        "classic",
        "--core",
        join(FIXTURES, "core", core),
      );
      assert.equal(c.code, 3, `${core}: ${c.out}`);
      assert.match(c.out, /source_contradicted/);
    }
  });
});
