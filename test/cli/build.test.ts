import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-build-"));
function state(name: string, doc: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof doc === "string" ? doc : JSON.stringify(doc));
  return p;
}
function qwords(b: Uint8Array): bigint[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 8 }, (_, i) => dv.getBigUint64(i * 8, true));
}

describe("sigframe build --style pwntools", () => {
  const mprotect = state("mprotect.json", { rax: "0xa", rdi: "0x601000", rsi: "0x1000", rdx: 7 });

  test("248: the bytes of pwntools' SigreturnFrame doctest (mprotect)", async () => {
    const out = join(dir, "p248.bin");
    const io = memoryIo();
    const code = await run(
      ["build", "--style", "pwntools", "--pwntools-variant", "248", "--state", mprotect, "-o", out],
      io,
    );
    assert.equal(code, 0, io.err);
    const q = qwords(readFileSync(out));
    // pwnlib/rop/srop.py docstring: unpack_many(bytes(s)) after s.rax=0xa, rdi, rsi, rdx.
    const want = [
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6295552, 4096, 0, 0, 7, 10, 0, 0, 0, 0, 51, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert.deepEqual(q, want.map(BigInt));
  });

  test("304: uc_sigmask moves to 296 (pwntools PR #2762)", async () => {
    const s = state("mask.json", { uc_sigmask: "0x4000", rip: "0x401000" });
    const a = join(dir, "p304.bin");
    const b = join(dir, "p248m.bin");
    assert.equal(await run(["build", "--style", "pwntools", "--state", s, "-o", a], memoryIo()), 0);
    assert.equal(
      await run(
        ["build", "--style", "pwntools", "--pwntools-variant", "248", "--state", s, "-o", b],
        memoryIo(),
      ),
      0,
    );
    const q304 = qwords(readFileSync(a));
    const q248 = qwords(readFileSync(b));
    assert.equal(q304.length, 38);
    assert.equal(q304[296 / 8], 0x4000n);
    assert.equal(q304[240 / 8], 0n);
    assert.equal(q248[240 / 8], 0x4000n);
    assert.equal(q304[168 / 8], 0x401000n);
    assert.equal(q304[184 / 8], 0x33n);
  });

  test("with --cpu: a kernel-style FPU area appended at a 64-byte boundary and pointed to", async () => {
    const out = join(dir, "pfp.bin");
    const io = memoryIo();
    const base = 0x7ffd00001000n;
    const code = await run(
      [
        "build",
        "--style",
        "pwntools",
        "--cpu",
        "intel-icelake-server",
        "--base",
        "0x7ffd00001000",
        "-o",
        out,
      ],
      io,
    );
    assert.equal(code, 0, io.err);
    const b = readFileSync(out);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const fp = dv.getBigUint64(40 + 184, true);
    assert.equal(fp % 64n, 0n);
    const off = Number(fp - base);
    assert.ok(off >= 304);
    assert.equal(dv.getUint32(off + 464, true), 0x46505853);
    assert.equal(dv.getUint32(off + 480, true), 2696);
    assert.equal(dv.getUint32(off + 2696, true), 0x46505845);
  });
});

describe(
  "sigframe build --style kernel|criu (this machine: Zen 5 without PKU)",
  needs(CORPUS, "the CPUID corpus"),
  () => {
    const local = join(CORPUS, "local-this-machine.json");
    test("criu on Zen 5 with AVX-512 state: 2436/2432/0xe7 as CRIU 4.2 wrote (peers.md §9.2)", async () => {
      const s = state("zmm.json", {
        zmm5: `0x${"1122334455667788".repeat(8)}`,
        zmm20: `0x${"0badc0de".repeat(16)}`,
        k3: "0xa5a5",
      });
      const out = join(dir, "zen5.bin");
      assert.equal(
        await run(
          ["build", "--cpu", local, "--style", "criu", "--fpstate-only", "--state", s, "-o", out],
          memoryIo(),
        ),
        0,
      );
      const b = readFileSync(out);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      assert.equal(dv.getUint32(468, true), 2436);
      assert.equal(dv.getUint32(480, true), 2432);
      assert.equal(dv.getBigUint64(512, true), 0xe7n);
      assert.equal(dv.getBigUint64(832 + 24, true), 0xa5a5n); // k3 at AMD's opmask offset
    });

    test("criu with YMM only: 836/832/0x7 (peers.md §9.2)", async () => {
      const s = state("ymm.json", { ymm5: `0x${"1122334455667788".repeat(4)}` });
      const out = join(dir, "ymm.bin");
      assert.equal(
        await run(
          ["build", "--cpu", local, "--style", "criu", "--fpstate-only", "--state", s, "-o", out],
          memoryIo(),
        ),
        0,
      );
      const dv = new DataView(readFileSync(out).buffer);
      assert.deepEqual(
        [dv.getUint32(468, true), dv.getUint32(480, true), dv.getBigUint64(512, true)],
        [836, 832, 0x7n],
      );
    });

    test("kernel frame: fpstate 456 bytes after the frame, 64-byte aligned, frame ≡ 8 mod 16", async () => {
      const out = join(dir, "k.bin");
      assert.equal(await run(["build", "--cpu", local, "-o", out], memoryIo()), 0);
      const b = readFileSync(out);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const fp = dv.getBigUint64(8 + 40 + 184, true);
      assert.equal(fp % 64n, 0n);
      assert.equal(b.length, 456 + 2432 + 4);
      assert.equal(dv.getBigUint64(8, true), 0x7n); // uc_flags
    });
  },
);

describe("sigframe build: bad input", () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown register", [state("bad1.json", { ymm99: "0x1" })], /ymm99.*unknown register/],
    [
      "value too wide",
      [state("bad2.json", { k1: "0x1ffffffffffffffff" })],
      /k1: value is wider than 64 bits/,
    ],
    ["not a number", [state("bad3.json", { rip: true })], /rip: expected a register value/],
    ["not JSON", [state("bad4.json", "{ nope")], /not valid JSON/],
  ];
  for (const [what, files, re] of cases) {
    test(`${what}: one line, exit 2, no output file`, async () => {
      const out = join(dir, `never-${what.replace(/ /g, "-")}.bin`);
      const io = memoryIo();
      const code = await run(["build", "--cpu", "amd-zen5", "--state", files[0]!, "-o", out], io);
      assert.equal(code, 2);
      assert.match(io.err, /^sigframe: /);
      assert.match(io.err, re);
      assert.equal(io.err.trim().split("\n").length, 1);
      assert.ok(!existsSync(out));
    });
  }

  test("kernel style without --cpu is a usage error", async () => {
    const io = memoryIo();
    assert.equal(await run(["build", "-o", join(dir, "x.bin")], io), 2);
    assert.match(io.err, /--cpu is needed/);
  });
});

describe("build says what no kernel would write or restore", () => {
  const run1 = async (...argv: string[]) => {
    const io = memoryIo();
    const code = await run(argv, io);
    return { code, out: io.out, err: io.err };
  };

  test("components are named, not numbered", async () => {
    const st = state("z17", { zmm17: "0x1" });
    const r = await run1("build", "--cpu", "intel-haswell", "--state", st, "-o", join(dir, "z17.bin"));
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /Hi16_ZMM \(bit 7\): not among the task's features/);
    assert.doesNotMatch(r.err, /components \d/);
  });

  test("an MXCSR the CPU's MXCSR_MASK refuses is written, with a warning", async () => {
    const st = state("mx", { mxcsr: "0xffffffff" });
    const out = join(dir, "mx.bin");
    const r = await run1("build", "--cpu", "intel-icelake-server", "--state", st, "-o", out);
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(out));
    assert.match(
      r.err,
      /warning: MXCSR 0xffffffff sets bits outside intel-icelake-server's MXCSR_MASK 0xffff/,
    );
    const ok = await run1("build", "--cpu", "intel-icelake-server", "-o", join(dir, "ok.bin"));
    assert.equal(ok.err, "");
  });

  test("the MXCSR_MASK field is the CPU's own: an AMD CPU with MisAlignSse writes 0x2ffff", async () => {
    const out = join(dir, "zen4.bin");
    assert.equal((await run1("build", "--cpu", "amd-zen4", "--fpstate-only", "-o", out)).code, 0);
    const b = readFileSync(out);
    assert.equal(new DataView(b.buffer, b.byteOffset).getUint32(28, true), 0x2ffff);
  });

  test("a --base no kernel would give: warned, for the frame and for an FPU area", async () => {
    const f = await run1("build", "--cpu", "amd-zen4", "--base", "0x7ffe0001", "-o", join(dir, "b1.bin"));
    assert.equal(f.code, 0, f.err);
    assert.match(f.err, /--base 0x7ffe0001 is not 8 mod 16/);
    const good = await run1("build", "--cpu", "amd-zen4", "--base", "0x7ffe0008", "-o", join(dir, "b2.bin"));
    assert.equal(good.err, "");
    const a = await run1(
      "build",
      "--cpu",
      "amd-zen4",
      "--fpstate-only",
      "--base",
      "0x7ffe0010",
      "-o",
      join(dir, "b3.bin"),
    );
    assert.match(a.err, /not 64-byte aligned: XRSTOR raises #GP/);
  });

  test("-o naming the STATE.json is refused, the input kept", async () => {
    const st = state("self", { rip: "0x401000" });
    const before = readFileSync(st);
    const r = await run1("build", "--cpu", "amd-zen4", "--state", st, "-o", st);
    assert.equal(r.code, 2);
    assert.match(r.err, /writing it would replace the input/);
    assert.deepEqual(readFileSync(st), before);
  });
});
