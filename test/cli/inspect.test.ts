import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../../src/core/criu/image.ts";
import { BUILTIN_PROFILES } from "../../src/core/profiles/builtins.ts";
import { buildCore } from "../core/elf/build.ts";
import { sigframe as cli } from "../helpers/cli.ts";
import { assertWellFormedSvg } from "../helpers/svg.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-inspect-"));

describe("sigframe inspect", () => {
  const k = join(dir, "k.bin");
  const st = join(dir, "st.json");
  writeFileSync(st, JSON.stringify({ rip: "0x401000", k1: "0xff", zmm17: `0x${"ab".repeat(64)}` }));

  test("a kernel frame: every field decoded at the CPU's offsets, no findings", async () => {
    assert.equal((await cli(["build", "--cpu", "amd-zen4", "--state", st, "-o", k])).code, 0);
    const r = await cli(["inspect", k, "--cpu", "amd-zen4", "--json"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.format, "frame");
    assert.equal(doc.frame.mcontext.rip, "0x401000");
    const opmask = doc.fpstate.components.find((c: { name: string }) => c.name === "OPMASK");
    assert.equal(opmask.offset, 832);
    assert.equal(opmask.registers.k1, "0xff");
    const hi16 = doc.fpstate.components.find((c: { name: string }) => c.name === "Hi16_ZMM");
    assert.equal(hi16.registers.zmm17, `0x${"ab".repeat(64)}`);
    assert.deepEqual(
      doc.findings.filter((f: { severity: string }) => f.severity !== "info"),
      [],
    );
  });

  test("inconsistencies are flagged: extended_size, xstate_bv ⊄ xfeatures, misaligned, magic2", async () => {
    const b = Uint8Array.from(readFileSync(k));
    const dv = new DataView(b.buffer);
    const fp = 456;
    dv.setUint32(fp + 468, 100, true); // extended_size < xstate_size
    dv.setBigUint64(fp + 472, 0x7n, true); // xfeatures without the AVX-512 bits xstate_bv has
    dv.setUint32(fp + 2440, 0, true); // magic2 gone
    const bad = join(dir, "bad.bin");
    writeFileSync(bad, b);
    const r = await cli(["inspect", bad, "--cpu", "amd-zen4", "--json"]);
    assert.equal(r.code, 3, r.err); // error findings: exit 3
    const codes = JSON.parse(r.out).findings.map((f: { code: string }) => f.code);
    for (const c of ["extended-size-mismatch", "xstate-bv-not-in-xfeatures", "magic2-missing"])
      assert.ok(codes.includes(c), c);
    // Its FPU area alone, said to sit at an address that is 16- but not 64-byte aligned.
    const area = join(dir, "area.bin");
    writeFileSync(area, b.subarray(fp));
    const mis = await cli([
      "inspect",
      area,
      "--fpstate-only",
      "--cpu",
      "amd-zen4",
      "--json",
      "--base",
      "0x1010",
    ]);
    assert.equal(mis.code, 3, mis.err);
    assert.ok(JSON.parse(mis.out).findings.some((f: { code: string }) => f.code === "fpstate-misaligned"));
  });

  test("--svg draws every component at the CPU's offsets, in use or init, and magic2", async () => {
    const built = join(dir, "svg.bin");
    assert.equal((await cli(["build", "--cpu", "intel-icelake-server", "--state", st, "-o", built])).code, 0);
    const r = await cli(["inspect", built, "--cpu", "intel-icelake-server", "--svg"]);
    assert.equal(r.code, 0, r.err);
    assertWellFormedSvg(r.out);
    // k1 and zmm17 were set: OPMASK and Hi16_ZMM hold state; ZMM_Hi256 is init.
    assert.match(r.out, />OPMASK@1088</);
    assert.match(r.out, />Hi16_ZMM@1664</);
    assert.match(r.out, />ZMM_Hi256@1152 \(init\)</);
    assert.match(r.out, />magic2@2696</);
    const other = await cli(["inspect", built, "--cpu", "amd-zen4", "--svg"]);
    assertWellFormedSvg(other.out);
    assert.match(other.out, />OPMASK@832/);
    assert.match(other.out, /error: xstate_size 2696 &gt; this task's user_size 2440/);
    for (const [cmd, args] of [
      ["layout", ["intel-sapphirerapids", "--amx"]],
      ["diff", ["amd-zen5", "intel-icelake-server"]],
    ] as const) {
      const s = await cli([cmd, ...args, "--svg"]);
      assert.equal(s.code, 0, s.err);
      assertWellFormedSvg(s.out);
    }
  });

  test("--hexdump names the field of each byte", async () => {
    const r = await cli(["inspect", k, "--cpu", "amd-zen4", "--hexdump"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\S+ {2}(00 ){8}53 58 50 46 .* sw_bytes\/magic1@8/m);
    assert.match(r.out, / rip@\d+/);
    assert.match(r.out, /OPMASK\/k1@\d+/);
  });

  test("truncated frame: the contract's one line, exit 2", async () => {
    const t = join(dir, "t.bin");
    writeFileSync(t, readFileSync(k).subarray(0, 300));
    const r = await cli(["inspect", t, "--frame"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^sigframe: .*t\.bin: 0x12c:frame: input ends at 300 bytes/);
  });

  test("a pwntools payload is detected by its length", async () => {
    const p = join(dir, "p.bin");
    assert.equal((await cli(["build", "--style", "pwntools", "-o", p])).code, 0);
    const r = await cli(["inspect", p, "--json"]);
    const doc = JSON.parse(r.out);
    assert.equal(doc.format, "ucontext");
    assert.equal(doc.frame.mcontext.cs, "0x33");
    assert.ok(doc.findings.some((f: { code: string }) => f.code === "fpstate-null"));
  });
});

describe("inspect --cpu checks MXCSR against that CPU's MXCSR_MASK, as predict does", () => {
  const d = mkdtempSync(join(tmpdir(), "sigframe-inspect-mxcsr-"));
  const st = join(d, "st.json");
  writeFileSync(st, JSON.stringify({ mxcsr: "0x21f80" })); // MM (bit 17): AMD with MisAlignSse only
  const f = join(d, "amd.bin");
  const mxcsrFinding = (out: string) =>
    JSON.parse(out).findings.find((x: { code: string }) => x.code === "mxcsr-reserved-bits");

  test("an AMD frame with MM set, read as an Intel CPU: the Intel mask (0xffff) rejects it", async () => {
    assert.equal((await cli(["build", "--cpu", "amd-zen4", "--state", st, "-o", f])).code, 0);
    // The frame's own mxcsr_mask field, as a Zen 4's FXSAVE stores it (0x2ffff), would let it through.
    const bytes = Uint8Array.from(readFileSync(f));
    new DataView(bytes.buffer).setUint32(456 + 28, 0x2ffff, true);
    writeFileSync(f, bytes);
    const r = await cli(["inspect", f, "--cpu", "intel-icelake-server", "--json"]);
    const m = mxcsrFinding(r.out);
    assert.ok(m, r.out);
    assert.equal(m.severity, "error");
    assert.match(m.message, /intel-icelake-server's MXCSR_MASK 0xffff \(estimated from CPUID/);
  });

  test("the same MXCSR in a frame whose field says 0xffff, read as AMD Zen 4: accepted", async () => {
    const b = Uint8Array.from(readFileSync(f));
    new DataView(b.buffer).setUint32(456 + 28, 0xffff, true);
    const g = join(d, "field.bin");
    writeFileSync(g, b);
    const r = await cli(["inspect", g, "--cpu", "amd-zen4", "--json"]);
    assert.equal(mxcsrFinding(r.out), undefined, r.out);
    // Without --cpu the field is all there is, and the message says so.
    const n = await cli(["inspect", g, "--json"]);
    assert.match(mxcsrFinding(n.out).message, /the frame's mxcsr_mask field/);
  });
});

/** Deterministic bytes (xorshift), so a failure is reproducible. */
function noise(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe("inspect refuses what is not a frame (one line, exit 2) and says what reads it", () => {
  const d = mkdtempSync(join(tmpdir(), "sigframe-notframe-"));
  const refuse = async (name: string, bytes: Uint8Array, re: RegExp, cmd = "inspect") => {
    const f = join(d, name);
    writeFileSync(f, bytes);
    const argv = cmd === "predict" ? ["predict", f, "--cpu", "amd-zen4", "--policy", "classic"] : [cmd, f];
    const r = await cli(argv);
    assert.equal(r.code, 2, `${name}: ${r.out}`);
    assert.equal(r.out, "");
    assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
    assert.match(r.err, re, name);
  };

  test("random bytes of any size, for inspect and predict", async () => {
    for (const [n, seed] of [
      [512, 1],
      [1292, 2],
      [4096, 3],
      [16384, 4],
      [248, 5],
      [304, 6],
    ] as const) {
      await refuse(
        `rnd-${n}.bin`,
        noise(n, seed),
        /rnd-\d+\.bin: not a signal frame: .*--frame, --ucontext or --fpstate-only/,
      );
    }
    await refuse("rnd-p.bin", noise(4096, 9), /not a signal frame/, "predict");
  });

  test("an ELF core points at scan; a CRIU image at scan and criu show; text at layout", async () => {
    await refuse(
      "core",
      buildCore([]),
      /core: an ELF file \(a core\?\), not a signal frame: 'sigframe scan FILE'/,
    );
    const img = new Uint8Array(64);
    const dv = new DataView(img.buffer);
    dv.setUint32(0, IMG_COMMON_MAGIC, true);
    dv.setUint32(4, IMAGE_MAGICS.CORE!, true);
    await refuse("core-1.img", img, /a CRIU image, not a signal frame: 'sigframe scan DIR'/);
    const text = new TextEncoder().encode(
      "CPU 0:\n   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547\n".repeat(40),
    );
    await refuse("cpuid.txt", text, /text, not a signal frame/);
    await refuse("z.zst", Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /zstd-compressed data/);
    const r = await cli(["inspect", d]);
    assert.equal(r.code, 2);
    assert.match(r.err, /is a directory, not a frame file .*'sigframe scan DIR'/);
  });

  test("every frame the codec builds, on every built-in CPU and in every style, is detected as what it is", async () => {
    const st = join(d, "st.json");
    writeFileSync(st, JSON.stringify({ rip: "0x401000", rsp: "0x7ffe0000", ymm2: "0x5" }));
    for (const b of BUILTIN_PROFILES) {
      for (const [style, extra, format] of [
        ["kernel", [], "frame"],
        ["criu", [], "frame"],
        ["kernel", ["--fpstate-only"], "fpstate"],
        ["pwntools", [], "ucontext"],
        ["pwntools", ["--pwntools-variant", "248"], "ucontext"],
      ] as const) {
        const f = join(d, `${b.name}-${style}-${extra.length}.bin`);
        const cpu = style === "pwntools" && extra.length === 0 ? [] : ["--cpu", b.name];
        const w = await cli(["build", ...cpu, "--style", style, "--state", st, ...extra, "-o", f]);
        assert.equal(w.code, 0, w.err);
        const r = await cli(["inspect", f, "--json"]);
        assert.ok(r.code !== 2, `${b.name} ${style} ${extra}: ${r.err}`);
        assert.equal(JSON.parse(r.out).format, format, `${b.name} ${style} ${extra}`);
      }
    }
  });

  test("named explicitly (--frame or --as frame), garbage is decoded and its impossible fields are errors (exit 3)", async () => {
    const f = join(d, "forced.bin");
    writeFileSync(f, noise(4096, 3));
    for (const how of [["--frame"], ["--as", "frame"]]) {
      const r = await cli(["inspect", f, ...how, "--json"]);
      assert.equal(r.code, 3, r.err);
      const fs = JSON.parse(r.out).findings as { code: string; severity: string; path: string }[];
      const has = (code: string, path: string) =>
        fs.some((x) => x.code === code && x.path === path && x.severity === "error");
      assert.ok(has("cs-not-user", "frame/uc/uc_mcontext/cs"), JSON.stringify(fs));
      assert.ok(
        fs.some((x) => x.code === "address-not-user"),
        "non-canonical pointers",
      );
      assert.ok(fs.some((x) => x.code === "uc-flags-unknown"));
    }
    const bad = await cli(["inspect", f, "--as", "nonsense"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--as: expected one of frame, ucontext, fpstate/);
  });

  test("exit codes: 0 for a clean kernel frame, 1 when the worst finding is a warning, 3 for an error", async () => {
    const k = join(d, "k.bin");
    assert.equal((await cli(["build", "--cpu", "intel-haswell", "-o", k])).code, 0);
    assert.equal((await cli(["inspect", k, "--cpu", "intel-haswell"])).code, 0);
    // The same Haswell frame read as an Ice Lake task: xstate_size 832 ≠ user_size 2696 (a warning).
    const w = await cli(["inspect", k, "--cpu", "intel-icelake-server", "--json"]);
    assert.equal(w.code, 1, w.out);
    const sev = JSON.parse(w.out).findings.map((x: { severity: string }) => x.severity);
    assert.ok(sev.includes("warning") && !sev.includes("error"), w.out);
    // An Ice Lake frame read as a Haswell task: xstate_size 2696 > user_size 832 (an error).
    const i = join(d, "i.bin");
    assert.equal((await cli(["build", "--cpu", "intel-icelake-server", "-o", i])).code, 0);
    assert.equal((await cli(["inspect", i, "--cpu", "intel-haswell"])).code, 3);
    const help = await cli(["inspect", "--help"]);
    assert.match(help.out, /Exit codes: 0 .*1 warnings, 3 errors/s);
  });
});
