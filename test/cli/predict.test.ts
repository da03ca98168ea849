import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { sigframe as cli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-predict-"));
const ymm = join(dir, "ymm.json");
writeFileSync(ymm, JSON.stringify({ ymm3: `0x${"11".repeat(32)}` }));
const hswCriu = join(dir, "hsw-criu.bin");

describe("sigframe predict: a CRIU frame from Haswell restored on Ice Lake-SP", () => {
  test("build it", async () => {
    const r = await cli([
      "build",
      "--cpu",
      "intel-haswell",
      "--style",
      "criu",
      "--state",
      ymm,
      "--fpstate-only",
      "-o",
      hswCriu,
    ]);
    assert.equal(r.code, 0, r.err);
  });

  test("classic restores YMM; refined falls back to FX-only and loses it", async () => {
    const r = await cli(["predict", hswCriu, "--cpu", "intel-icelake-server", "--all-policies", "--json"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    const by = Object.fromEntries(doc.predictions.map((p: { policy: string }) => [p.policy, p]));
    const ymmOf = (p: { components: { name: string; result: string }[] }) =>
      p.components.find((c) => c.name === "YMM")!.result;
    assert.equal(by.classic.path, "xrstor");
    assert.equal(ymmOf(by.classic), "frame");
    assert.equal(by.refined.path, "fxrstor-fallback");
    assert.equal(by.refined.reason, "magic2-mismatch");
    assert.equal(ymmOf(by.refined), "init");
    assert.deepEqual(by.refined.lost, ["YMM"]);
    for (const p of doc.predictions) {
      for (const k of ["policy", "path", "signal", "reason", "detail", "components", "mxcsr"])
        assert.ok(k in p, k);
    }
  });

  test("--fail-on-loss: exit 3 under refined, 0 under classic", async () => {
    assert.equal(
      (
        await cli([
          "predict",
          hswCriu,
          "--cpu",
          "intel-icelake-server",
          "--policy",
          "refined",
          "--fail-on-loss",
        ])
      ).code,
      3,
    );
    assert.equal(
      (
        await cli([
          "predict",
          hswCriu,
          "--cpu",
          "intel-icelake-server",
          "--policy",
          "classic",
          "--fail-on-loss",
        ])
      ).code,
      0,
    );
  });

  test("--kernel maps to policies; an ambiguous 6.18.y gives both with a note", async () => {
    const one = JSON.parse(
      (await cli(["predict", hswCriu, "--cpu", "icx", "--kernel", "6.18.44", "--json"])).out,
    );
    assert.equal(one.policy, "classic");
    assert.equal(one.kernel, "6.18.44");
    const two = JSON.parse(
      (await cli(["predict", hswCriu, "--cpu", "icx", "--kernel", "6.18.5", "--json"])).out,
    );
    assert.deepEqual(
      two.predictions.map((p: { policy: string }) => p.policy),
      ["refined", "classic"],
    );
    assert.match(two.note, /44eeff9bc467/);
    const human = await cli(["predict", hswCriu, "--cpu", "icx", "--kernel", "6.17.13"]);
    assert.match(human.out, /policy refined: .*magic2-mismatch/);
  });

  test("--readable-bytes: nothing mapped past magic2 → SIGSEGV under refined", async () => {
    const r = JSON.parse(
      (
        await cli([
          "predict",
          hswCriu,
          "--cpu",
          "icx",
          "--policy",
          "refined",
          "--readable-bytes",
          "836",
          "--json",
        ])
      ).out,
    );
    assert.equal(r.signal, "SIGSEGV");
    assert.equal(r.reason, "magic2-unreadable");
  });

  test("--address: a misaligned fpstate is SIGSEGV under classic", async () => {
    const r = JSON.parse(
      (
        await cli([
          "predict",
          hswCriu,
          "--cpu",
          "icx",
          "--policy",
          "classic",
          "--address",
          "0x7ffc00000010",
          "--json",
        ])
      ).out,
    );
    assert.equal(r.reason, "xrstor-gp-alignment");
  });
});

describe("sigframe predict on whole frames", () => {
  test("a kernel frame: the fpstate pointer is followed; a pwntools payload has a NULL fpstate", async () => {
    const k = join(dir, "k.bin");
    assert.equal((await cli(["build", "--cpu", "icx", "--state", ymm, "-o", k])).code, 0);
    const r = JSON.parse((await cli(["predict", k, "--cpu", "icx", "--policy", "refined", "--json"])).out);
    assert.equal(r.reason, "xstate-bv-init");
    assert.equal(r.components.find((c: { name: string }) => c.name === "YMM").result, "frame");
    const p = join(dir, "p.bin");
    assert.equal((await cli(["build", "--style", "pwntools", "-o", p])).code, 0);
    const n = JSON.parse((await cli(["predict", p, "--cpu", "icx", "--policy", "classic", "--json"])).out);
    assert.equal(n.path, "init");
    assert.equal(n.reason, "null-fpstate");
  });
});

describe("sigframe predict: bad input never crashes", () => {
  test("truncated FPU area: one line with offset and field path, exit 2", async () => {
    const t = join(dir, "trunc.bin");
    writeFileSync(t, readFileSync(hswCriu).subarray(0, 700));
    const r = await cli(["predict", t, "--cpu", "icx", "--policy", "classic"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^sigframe: .*trunc\.bin: 0x340:fpstate\/magic2: input ends at 700 bytes/);
    assert.equal(r.out, "");
  });

  test("missing policy choice and unknown policy are usage errors", async () => {
    assert.equal((await cli(["predict", hswCriu, "--cpu", "icx"])).code, 2);
    assert.equal((await cli(["predict", hswCriu, "--cpu", "icx", "--policy", "newest"])).code, 2);
  });

  test("random and hostile files: exit 0 or 2, never an internal error", async () => {
    const f = join(dir, "fuzz.bin");
    const base = readFileSync(hswCriu).subarray(0, 1200);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 1500 }),
          fc.array(fc.tuple(fc.nat(1199), fc.nat(255)), { maxLength: 20 }).map((pokes) => {
            const b = Uint8Array.from(base);
            for (const [o, v] of pokes) b[o] = v;
            return b;
          }),
        ),
        fc.constantFrom("--fpstate-only", "--frame", "--ucontext", "--all-policies"),
        async (bytes, flag) => {
          writeFileSync(f, bytes);
          const args = ["predict", f, "--cpu", "icx", flag];
          if (flag !== "--all-policies") args.push("--all-policies");
          const r = await cli(args);
          assert.ok(r.code === 0 || r.code === 2, `${r.code}: ${r.err}`);
          if (r.code === 2) assert.equal(r.err.trim().split("\n").length, 1);
        },
      ),
      { numRuns: 60 },
    );
    assert.ok(existsSync(f));
  });
});
