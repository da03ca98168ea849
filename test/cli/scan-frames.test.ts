/**
 * `scan --json` decodes each frame's registers with the layout that wrote it, and
 * `scan --save-frames DIR` writes each live frame as a file inspect, predict and translate take.
 * On processes made in the test (known register values), on any CPU.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { sf } from "../helpers/cli.ts";
import { criuImages } from "../helpers/criu-checkpoint.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";
import { tarOf } from "../helpers/tar.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-scan-frames-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const STACK = 0x7ffffffde000n;
const TOP = STACK + 0x21000n;
const ZMM3 = `0x${"a3".repeat(64)}`;
const ZMM20 = `0x${"b4".repeat(64)}`;
const TMM1 = `0x${"33".repeat(1024)}`;

function core(cpu: string, name: string, amx = false): string {
  const l = computeLayout(builtinProfile(cpu));
  const regs: Record<string, string> = { zmm3: ZMM3, zmm20: ZMM20, k2: "0xabcd01", xmm7: "0x77" };
  if (amx) Object.assign(regs, { palette: "0x1", colsb1: "0x40", rows1: "0x10", tmm1: TMM1 });
  const p = simulate(
    l,
    [
      {
        tid: 91,
        sp: TOP - 0x800n,
        ...(amx ? { amx: true } : {}),
        signals: [
          { signo: 10, regs },
          { signo: 12, regs: { ymm1: `0x${"c1".repeat(32)}` } },
        ],
      },
    ],
    [{ start: STACK, size: 0x22000 }],
  );
  const path = join(dir, name);
  writeFileSync(path, elfCore(p, { mainStack: TOP - 0x100n }));
  return path;
}

describe("scan --json: each frame's registers, at the writer's offsets", () => {
  for (const cpu of ["intel-icelake-server", "amd-zen4"]) {
    test(`${cpu}: zmm, k and xmm values as the interrupted code had them`, async () => {
      const r = await sf("scan", core(cpu, `${cpu}.core`), "--json");
      assert.equal(r.code, 0, r.err);
      const [d1, d2] = JSON.parse(r.out).frames;
      assert.equal(d1.state.readAs, "the image's source CPU");
      assert.equal(d1.state.vectors.zmm3, ZMM3);
      assert.equal(d1.state.vectors.zmm20, ZMM20);
      assert.equal(d1.state.vectors.zmm7, "0x77");
      assert.equal(d1.state.opmask.k2, "0xabcd01");
      assert.ok(d1.state.inUse.includes("OPMASK") && d1.state.inUse.includes("Hi16_ZMM"));
      // The nested frame holds what the handler had: ymm1 only; the rest reads as init.
      assert.equal(d2.state.vectors.zmm1, `0x${"c1".repeat(32)}`);
      assert.equal(d2.state.vectors.zmm3, "0x0");
      assert.equal(d2.state.opmask.k2, "0x0");
    });
  }

  test("AMX: the tile configuration and tmm values of an AMX task's frame", async () => {
    const r = await sf("scan", core("intel-sapphirerapids", "amx.core", true), "--json");
    const [d1] = JSON.parse(r.out).frames;
    assert.equal(d1.xstateSize, 11008);
    assert.equal(d1.state.tiles.palette, "0x1");
    assert.equal(d1.state.tiles.tmm1, TMM1);
    assert.equal(d1.state.tiles.tmm0, "0x0");
  });
});

describe("scan --json: the target's processes", () => {
  test("a raw image records no process: no `processes: [null]`; a core lists its pid", async () => {
    const l = computeLayout(builtinProfile("amd-zen4"));
    const p = simulate(
      l,
      [{ tid: 57, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { k2: "0x5" } }] }],
      [{ start: STACK, size: 0x22000 }],
    );
    const stack = p.regions.find((r) => r.start === STACK)!;
    const raw = join(dir, "stack.raw");
    writeFileSync(raw, stack.bytes);
    const r = await sf("scan", raw, "--base", `0x${STACK.toString(16)}`, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.target.kind, "raw");
    assert.ok(!("processes" in j.target), JSON.stringify(j.target));
    assert.ok(!JSON.stringify(j.target).includes("null"), JSON.stringify(j.target));
    // The frame is still found (low: a raw image has no thread registers).
    assert.equal(j.frames.length, 1);
    const c = await sf("scan", core("amd-zen4", "pid.core"), "--json");
    // core() makes one process whose pid is its first thread's tid (91).
    assert.deepEqual(JSON.parse(c.out).target.processes, [91]);
  });
});

describe("scan --save-frames DIR", () => {
  test("each live frame is a file that inspect, predict and translate take; index.json and source-cpu.json beside", async () => {
    const out = join(dir, "saved");
    const r = await sf("scan", core("amd-zen4", "save.core"), "--save-frames", out);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /saved 2 live frames to .*t91-d1-SIGUSR1\.frame, t91-d2-SIGUSR2\.frame; source CPU in/,
    );
    assert.deepEqual(readdirSync(out).sort(), [
      "index.json",
      "source-cpu.json",
      "t91-d1-SIGUSR1.frame",
      "t91-d2-SIGUSR2.frame",
    ]);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    assert.deepEqual(
      index.frames.map((f: { file: string; depth: number; xstateSize: number }) => [
        f.file,
        f.depth,
        f.xstateSize,
      ]),
      [
        ["t91-d1-SIGUSR1.frame", 1, 2440],
        ["t91-d2-SIGUSR2.frame", 2, 2440],
      ],
    );
    const frame = join(out, "t91-d1-SIGUSR1.frame");
    const cpu = join(out, "source-cpu.json");
    const ins = await sf("inspect", frame, "--cpu", cpu, "--json");
    assert.equal(ins.code, 0, ins.out + ins.err);
    const doc = JSON.parse(ins.out);
    assert.equal(doc.format, "frame");
    const k = doc.fpstate.components.find((c: { name: string }) => c.name === "OPMASK");
    assert.equal(k.offset, 832);
    assert.equal(k.registers.k2, "0xabcd01");
    const pr = await sf("predict", frame, "--cpu", cpu, "--policy", "classic", "--json");
    assert.equal(pr.code, 0, pr.err);
    assert.equal(JSON.parse(pr.out).path, "xrstor");
    const tr = await sf(
      "translate",
      "--from",
      cpu,
      "--to",
      "intel-icelake-server",
      frame,
      "-o",
      join(dir, "moved.frame"),
      "--policy",
      "classic",
    );
    assert.ok(tr.code === 0 || tr.code === 3, tr.err);
    assert.match(tr.out, /OPMASK .*moved +832\.\.895 +1088\.\.1151/);
  });

  test("a --save-frames path that is a file: one line, exit 2, nothing written", async () => {
    const f = join(dir, "a-file");
    writeFileSync(f, "x");
    const r = await sf("scan", core("amd-zen4", "bad.core"), "--save-frames", f);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, /a-file: exists and is not a directory/);
    assert.equal(readFileSync(f, "utf8"), "x");
    assert.ok(!existsSync(join(dir, "bad.core.frames")));
  });
});

describe("streamed inputs keep each frame from pretcode", () => {
  test("a checkpoint archive and a zstd core: the same frame files, and the same state, as the plain core", async () => {
    const l = computeLayout(builtinProfile("amd-zen4"));
    const p = simulate(
      l,
      [{ tid: 44, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { zmm3: ZMM3, k2: "0xabcd01" } }] }],
      [{ start: STACK, size: 0x22000 }],
    );
    const plain = join(dir, "streamed.core");
    const coreBytes = elfCore(p, { mainStack: TOP - 0x100n });
    writeFileSync(plain, coreBytes);
    const archive = join(dir, "streamed.tar");
    writeFileSync(
      archive,
      tarOf(
        [...criuImages(p, { mainStack: TOP - 0x100n })].map(([n, b]): [string, Uint8Array] => [
          `checkpoint/${n}`,
          b,
        ]),
      ),
    );
    const inputs = [plain, archive];
    const z = spawnSync("zstd", ["-q", "-c"], { input: coreBytes, maxBuffer: 1 << 26 });
    if (z.status === 0 && !z.error) {
      writeFileSync(join(dir, "streamed.core.zst"), z.stdout);
      inputs.push(join(dir, "streamed.core.zst"));
    }
    const saved: Buffer[] = [];
    for (const input of inputs) {
      const out = join(dir, `saved-${inputs.indexOf(input)}`);
      const r = await sf("scan", input, "--save-frames", out, "--json");
      assert.equal(r.code, 0, r.err);
      const doc = JSON.parse(r.out);
      assert.deepEqual(
        doc.saved.frames.map((f: { file: string }) => f.file),
        ["t44-d1-SIGUSR1.frame"],
        input,
      );
      assert.equal(doc.frames[0].state.vectors.zmm3, ZMM3, input);
      assert.equal(doc.frames[0].state.opmask.k2, "0xabcd01", input);
      saved.push(readFileSync(join(out, "t44-d1-SIGUSR1.frame")));
    }
    for (const b of saved.slice(1)) assert.deepEqual(b, saved[0]);
  });
});

describe("a handler installed without SA_SIGINFO (signal())", () => {
  test("its frame is live with the signal unknown, and check --core evaluates it", async () => {
    // x64_setup_rt_frame() copies siginfo only for SA_SIGINFO: the slot keeps what the stack held.
    const p = simulate(
      computeLayout(builtinProfile("amd-zen4")),
      [{ tid: 66, sp: TOP - 0x800n, signals: [{ signo: 10, noSiginfo: true, regs: { k2: "0x9" } }] }],
      [{ start: STACK, size: 0x22000 }],
    );
    const path = join(dir, "nosiginfo.core");
    writeFileSync(path, elfCore(p, { mainStack: TOP - 0x100n }));
    const r = await sf("scan", path, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.summary.liveFrames, 1);
    assert.equal(j.frames[0].confidence, "high");
    assert.equal(j.frames[0].signalName, "unknown");
    assert.equal(j.frames[0].state.opmask.k2, "0x9");
    assert.match(j.notes.join(" "), /only for SA_SIGINFO handlers/);
    const c = await sf(
      "check",
      "--core",
      path,
      "--to",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(c.code, 3, c.err);
    const doc = JSON.parse(c.out);
    assert.ok(
      doc.findings.some(
        (f: { code: string; frames?: string[] }) => f.code === "component_misplaced" && f.frames?.length,
      ),
      c.out,
    );
  });
});
