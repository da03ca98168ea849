/**
 * `sigframe translate` end to end: the live Zen 5 frame of fixture S2 moved to Ice Lake-SP and
 * checked with the other commands (predict, inspect), the exit codes, -o -, --keep-size and bad
 * input that must leave no output file behind.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { hexToBytes, leToBigint } from "../../src/core/hex.ts";
import { sigframe as cli } from "../helpers/cli.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-translate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: truth files are plain JSON
type Truth = any;
const fixtures = needs(FIXTURES, "signal-frame fixtures");
const truth = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));

/** The kernel frame bytes the S2 process read from its own stack (a file for the CLI to read). */
function frameFile(s: string): { path: string; t: Truth; f: Truth } {
  const t = truth(s);
  const f = t.threads[0].frames[0];
  const path = join(dir, `${s}.frame`);
  writeFileSync(path, hexToBytes(f.frame_bytes_hex));
  return { path, t, f };
}

describe("sigframe translate: S2's live Zen 5 frame to Ice Lake-SP", fixtures, () => {
  const out = join(dir, "s2-icx.frame");

  test("--json: components moved to Intel's offsets, verified, restored under every policy, exit 0", async () => {
    const { path } = frameFile("S2");
    const r = await cli([
      "translate",
      "--from",
      "amd-zen5",
      "--to",
      "intel-icelake-server",
      path,
      "-o",
      out,
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    const by = Object.fromEntries(doc.components.map((c: Truth) => [c.name, c]));
    assert.deepEqual(
      ["OPMASK", "ZMM_Hi256", "Hi16_ZMM"].map((n) => [by[n].action, by[n].from.offset, by[n].to.offset]),
      [
        ["moved", 832, 1088],
        ["moved", 896, 1152],
        ["moved", 1408, 1664],
      ],
    );
    assert.equal(by.PKRU.action, "init");
    assert.equal(by.PKRU.source, "absent");
    assert.deepEqual(doc.lost, []);
    assert.equal(doc.verified, true);
    assert.equal(doc.output.xstateSize, 2696);
    assert.equal(doc.output.size, 456 + 2700);
    assert.equal(doc.input.xstateSize, 2432);
    assert.equal(doc.frame.delta, -320);
    assert.equal(doc.predictions.length, 3);
    for (const p of doc.predictions) {
      assert.equal(p.path, "xrstor");
      assert.equal(p.restored, true, `${p.policy}: ${p.missing}`);
    }
    assert.equal(readFileSync(out).length, 456 + 2700);
  });

  test("predict and inspect on the output agree: Ice Lake loads the k/zmm patterns from 1088/1152/1664", async () => {
    const { t, f } = frameFile("S2");
    const ctx = t.contexts[f.saved_context];
    const p = await cli(["predict", out, "--cpu", "intel-icelake-server", "--policy", "classic", "--json"]);
    assert.equal(p.code, 0, p.err);
    const pd = JSON.parse(p.out);
    assert.equal(pd.path, "xrstor");
    const at = Object.fromEntries(pd.components.map((c: Truth) => [c.name, [c.result, c.offset]]));
    assert.deepEqual(at.OPMASK, ["frame", 1088]);
    assert.deepEqual(at.ZMM_Hi256, ["frame", 1152]);
    assert.deepEqual(at.Hi16_ZMM, ["frame", 1664]);
    const i = await cli(["inspect", out, "--cpu", "intel-icelake-server", "--json"]);
    assert.equal(i.code, 0, i.err);
    const doc = JSON.parse(i.out);
    const comps = Object.fromEntries(doc.fpstate.components.map((c: Truth) => [c.name, c]));
    for (let k = 0; k < 8; k++)
      assert.equal(BigInt(comps.OPMASK.registers[`k${k}`]), BigInt(ctx.k[k]), `k${k}`);
    for (let z = 16; z < 32; z++)
      assert.equal(
        BigInt(comps.Hi16_ZMM.registers[`zmm${z}`]),
        leToBigint(hexToBytes(ctx.zmm[z])),
        `zmm${z}`,
      );
    assert.equal(comps.OPMASK.offset, 1088);
  });

  test("compare: the untranslated frame on Ice Lake reads k/zmm at Intel's offsets from AMD bytes", async () => {
    const { path } = frameFile("S2");
    const p = await cli(["predict", path, "--cpu", "intel-icelake-server", "--policy", "classic", "--json"]);
    const pd = JSON.parse(p.out);
    // Accepted (xstate_size 2432 ≤ 2696) and loaded — from the wrong bytes, Hi16_ZMM from past the frame.
    assert.equal(pd.path, "xrstor");
    assert.ok(pd.notes.some((n: string) => /Hi16_ZMM at 1664\.\.2687, past sw.xstate_size 2432/.test(n)));
    const r = await cli([
      "translate",
      "--from",
      "amd-zen5",
      "--to",
      "intel-icelake-server",
      path,
      "-o",
      join(dir, "c.frame"),
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /untranslated, intel-icelake-server would read:/);
    assert.match(r.out, /OPMASK\s+at 1088\.\.1151: amd-zen5's ZMM_Hi256/);
    assert.match(r.out, /Hi16_ZMM\s+at 1664\.\.2687: amd-zen5's Hi16_ZMM, magic2, past the frame/);
    assert.match(r.out, /OPMASK\s+moved\s+832\.\.895\s+1088\.\.1151/);
    assert.match(r.out, /grows from 2436 to 2700 bytes/);
    assert.match(r.out, /--keep-size is not possible/);
  });

  test("to Haswell: AVX-512 state is dropped and lost: exit 3, the file is still written", async () => {
    const { path } = frameFile("S2");
    const o = join(dir, "hsw.frame");
    const r = await cli([
      "translate",
      "--from",
      "amd-zen5",
      "--to",
      "intel-haswell",
      path,
      "-o",
      o,
      "--json",
    ]);
    assert.equal(r.code, 3, r.err);
    const doc = JSON.parse(r.out);
    assert.deepEqual(doc.lost, ["OPMASK", "ZMM_Hi256", "Hi16_ZMM"]);
    assert.deepEqual(doc.dropped, ["OPMASK", "ZMM_Hi256", "Hi16_ZMM"]);
    assert.equal(doc.lossy, true);
    assert.equal(doc.output.xstateSize, 832);
    assert.ok(existsSync(o));
  });

  test("--style criu under refined: restored by nobody, exit 3; under classic exit 0", async () => {
    const { path } = frameFile("S2");
    const args = ["translate", "--from", "amd-zen5", "--to", "intel-icelake-server", path, "--style", "criu"];
    const refined = await cli([...args, "-o", join(dir, "r.frame"), "--policy", "refined", "--json"]);
    assert.equal(refined.code, 3);
    const rd = JSON.parse(refined.out);
    assert.equal(rd.output.xstateSize, 2688);
    assert.equal(rd.predictions[0].path, "fxrstor-fallback");
    const classic = await cli([...args, "-o", join(dir, "k.frame"), "--kernel", "6.12.3"]);
    assert.equal(classic.code, 0, classic.err);
    assert.match(classic.out, /classic\s+XRSTOR/);
  });

  test("-o - writes the frame to stdout and the report to stderr", async () => {
    const { path } = frameFile("S2");
    const r = await cli(["translate", "--from", "amd-zen5", "--to", "intel-icelake-server", path, "-o", "-"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "");
    assert.equal(r.bytes.length, 1);
    assert.deepEqual(r.bytes[0], new Uint8Array(readFileSync(out)));
    assert.match(r.err, /wrote stdout: 3156 bytes/);
  });

  test("--keep-size: refused when the area grows (no file), in place when it shrinks", async () => {
    const { path } = frameFile("S2");
    const o = join(dir, "keep.frame");
    const r = await cli([
      "translate",
      "--from",
      "amd-zen5",
      "--to",
      "intel-icelake-server",
      path,
      "-o",
      o,
      "--keep-size",
    ]);
    assert.equal(r.code, 2);
    assert.equal(r.err.trim().split("\n").length, 1);
    assert.match(r.err, /needs 2700 bytes .* only 2436/);
    assert.ok(!existsSync(o));
    const back = await cli([
      "translate",
      "--from",
      "intel-icelake-server",
      "--to",
      "amd-zen5",
      out,
      "-o",
      o,
      "--keep-size",
      "--json",
    ]);
    assert.equal(back.code, 0, back.err);
    const doc = JSON.parse(back.out);
    assert.equal(doc.frame.inPlace, true);
    assert.equal(doc.output.size, readFileSync(out).length);
    assert.equal(doc.output.xstateSize, 2440);
    assert.equal(doc.frame.fpstate.to, doc.frame.fpstate.from);
  });
});

describe("sigframe translate: bad input", fixtures, () => {
  const cases: [string, () => string[], RegExp][] = [
    [
      "a truncated frame",
      () => {
        const p = join(dir, "trunc.frame");
        writeFileSync(p, hexToBytes(truth("S2").threads[0].frames[0].frame_bytes_hex).subarray(0, 1500));
        return ["--from", "amd-zen5", "--to", "intel-icelake-server", p];
      },
      /0xb48:fpstate\/magic2: input ends at 1500 bytes/,
    ],
    [
      "a legacy FXSAVE image",
      () => {
        const p = join(dir, "fx.bin");
        writeFileSync(p, new Uint8Array(512));
        return ["--from", "amd-zen5", "--to", "intel-icelake-server", p];
      },
      /magic1: .*legacy FXSAVE image/,
    ],
    [
      "the wrong --from (an AMD frame read at Intel's offsets)",
      () => ["--from", "intel-icelake-server", "--to", "amd-zen5", frameFile("S2").path],
      /check --from/,
    ],
    [
      "an unknown style",
      () => ["--from", "amd-zen5", "--to", "amd-zen4", frameFile("S2").path, "--style", "gvisor"],
      /--style/,
    ],
    [
      "--json with -o -",
      () => ["--from", "amd-zen5", "--to", "amd-zen4", frameFile("S2").path, "--json"],
      /--json/,
    ],
    [
      "--amx on a CPU without AMX",
      () => ["--from", "amd-zen5", "--to", "amd-zen4", frameFile("S2").path, "--amx"],
      /AMX/,
    ],
  ];
  for (const [what, args, msg] of cases) {
    test(`${what}: one line, exit 2, no output file`, async () => {
      const o = join(dir, `bad-${what.length}.frame`);
      const a = args();
      const r = await cli(["translate", ...a, "-o", what.startsWith("--json") ? "-" : o]);
      assert.equal(r.code, 2, r.out);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, /^sigframe: /);
      assert.match(r.err, msg);
      assert.ok(!existsSync(o));
      assert.equal(r.bytes.length, 0);
    });
  }
});

test("translate X -o X is refused and X is left as it was", async () => {
  const f = join(dir, "self.bin");
  assert.equal((await cli(["build", "--cpu", "amd-zen4", "--fpstate-only", "-o", f])).code, 0);
  const before = readFileSync(f);
  const r = await cli(["translate", "--from", "amd-zen4", "--to", "intel-icelake-server", f, "-o", f]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.match(r.err, /self\.bin: is the input .*writing it would replace the input/);
  assert.deepEqual(readFileSync(f), before);
  // The same file under another name too.
  const r2 = await cli([
    "translate",
    "--from",
    "amd-zen4",
    "--to",
    "intel-icelake-server",
    f,
    "-o",
    join(dir, ".", "self.bin"),
  ]);
  assert.equal(r2.code, 2);
});
