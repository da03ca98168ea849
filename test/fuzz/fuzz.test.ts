/**
 * The fuzzer in CI: a short fixed-seed campaign over every family (bounded by executions, not
 * time: the same inputs on every run), which must find no untyped error, hang or memory blow-up;
 * and the fuzzer's own machinery: deterministic inputs, outcome classification, minimisation, and
 * the parent's watchdog stopping a worker that spins, runs away with memory or exhausts its heap,
 * with the running case recovered from shared memory.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { sweepStale } from "../../fuzz/bundle.ts";
import { ERROR_LINE, Runner } from "../../fuzz/engine.ts";
import { FAMILIES, familyByName } from "../../fuzz/families.ts";
import { type CampaignOptions, runCampaign, runFamily, SCRATCH_NAME, summaryTable } from "../../fuzz/run.ts";

/** Executions per family in CI: a few seconds in all, the same inputs every run. */
const CI_EXECS = Number(process.env.SIGFRAME_FUZZ_CI_EXECS ?? 300);
const SEED = 20261203;

const tmp = mkdtempSync(join(tmpdir(), "sigframe-fuzz-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function options(over: Partial<CampaignOptions> = {}): CampaignOptions {
  return {
    families: FAMILIES.map((f) => f.name),
    execs: CI_EXECS,
    seed: SEED,
    out: join(tmp, "findings"),
    // No time or memory budget in CI (a loaded machine would make them flaky); hangs and runaway
    // memory are still stopped by the watchdog.
    budgets: { timeMs: 0, memoryBytes: 0 },
    jobs: 1,
    minimise: true,
    hangCpuMs: 60_000,
    hangWallMs: 10 * 60_000,
    rssLimitBytes: process.memoryUsage.rss() + 2048 * 2 ** 20,
    heapMb: 1024,
    ...over,
  };
}

/** `npm run fuzz` as a process: node's arguments before the campaign's own. */
const FUZZ = ["--import", "tsx", join(import.meta.dirname, "..", "..", "fuzz", "run.ts")];

/** Every family ran all its executions and found nothing, and reached both read and refused inputs. */
function assertClean(results: Awaited<ReturnType<typeof runCampaign>>): void {
  const table = summaryTable(results);
  for (const r of results) {
    assert.equal(r.execs, CI_EXECS, `${r.family} ran every execution\n${table}`);
    const bad = r.findings.map((f) => `${f.kind}: ${f.signature}\n  ${f.command}\n  ${f.detail}`);
    assert.deepEqual(bad, [], `${r.family}: findings\n${table}`);
    assert.equal(r.counts.untyped + r.counts.time + r.counts.memory, 0, table);
    // Each family reaches both outcomes: inputs that are read and inputs that are refused.
    if (r.family !== "raw-image") assert.ok(r.counts.typed > 0 && r.counts.ok > 0, `${r.family}\n${table}`);
    else assert.ok(r.counts.ok > 0, table);
  }
}

describe("a fixed-seed campaign over every family", () => {
  test(`${CI_EXECS} executions per family: no untyped error, hang or memory blow-up`, async () => {
    assertClean(await runCampaign(options()));
  });
});

describe("the parser level (--level core)", () => {
  test(`${CI_EXECS} executions per family: no untyped error, hang or memory blow-up`, async () => {
    assertClean(await runCampaign(options({ level: "core" })));
  });

  test("every seed is read by each of its family's runs (ia32 frames refused by the 64-bit ones, in one line)", async () => {
    for (const family of FAMILIES) {
      const r = new Runner({
        family,
        seed: 1,
        dir: join(tmp, `core-${family.name}`),
        budgets: { timeMs: 0, memoryBytes: 0 },
        level: "core",
      });
      try {
        let runs = 0;
        for (let seed = 0; seed < r.seeds.length; seed++) {
          const s = r.seeds[seed]!;
          const file = s.mutable[0]![0];
          const bytes = s.files.get(file)!;
          for (let command = 0; command < r.commandCount(seed); command++) {
            const c = { seed, file, bytes, command };
            const template = r.template(c);
            runs++;
            const o = await r.execute(c);
            const what = `${family.name}: ${s.label}: ${template.join(" ")}: ${o.detail}`;
            // An ia32 frame under a run that detects the format (none forced) is not a 64-bit frame.
            const forced = template.some((a) => /ia32|^--as$|^--fpstate-only$/.test(a));
            const ia32 = /ia32/.test(s.label) && !forced;
            if (ia32) {
              assert.equal(o.kind, "typed", what);
              assert.match(o.detail, ERROR_LINE);
            } else assert.equal(o.kind, "ok", what);
          }
        }
        assert.ok(runs >= r.seeds.length, `${family.name}: ${runs} runs over ${r.seeds.length} seeds`);
      } finally {
        r.close();
      }
    }
  });

  test("a core refused at the parser level is the same typed error as through the CLI, naming the CLI command", async () => {
    const mk = (level: "command" | "core", dir: string) =>
      new Runner({
        family: familyByName("elf-core")!,
        seed: 1,
        dir: join(tmp, dir),
        budgets: { timeMs: 0, memoryBytes: 0 },
        level,
      });
    const cmd = mk("command", "lvl-cmd");
    const core = mk("core", "lvl-core");
    try {
      const seed = cmd.seeds.findIndex((s) => s.label === "generated amd-zen4");
      const good = cmd.seeds[seed]!.files.get("frame.core")!;
      const bad = Uint8Array.from(good);
      new DataView(bad.buffer).setUint16(56, 0xfff0, true);
      const at = (r: Runner) =>
        Array.from({ length: r.commandCount(seed) }, (_, k) => k).find((k) => {
          const t = r.template({ seed, file: "frame.core", bytes: bad, command: k });
          return t[0] === "scan" && t.includes("--json") && !t.includes("--all");
        })!;
      const viaCli = await cmd.execute({ seed, file: "frame.core", bytes: bad, command: at(cmd) });
      const inCore = await core.execute({ seed, file: "frame.core", bytes: bad, command: at(core) });
      assert.equal(inCore.kind, "typed", inCore.detail);
      assert.equal(inCore.code, 2);
      // The same message after the input's name.
      const message = (line: string) => line.trim().replace(/^sigframe: [^:]+:/, "");
      assert.equal(message(inCore.detail), message(viaCli.detail));
      assert.deepEqual(core.template({ seed, file: "frame.core", bytes: bad, command: at(core) }), [
        "scan",
        "$IN",
        "--json",
      ]);
    } finally {
      cmd.close();
      core.close();
    }
  });
});

test("--jobs 2 runs each family in a process of its own and merges their summaries", () => {
  const out = join(tmp, "lanes");
  const r = spawnSync(
    process.execPath,
    [
      ...FUZZ,
      ...["--level", "core", "--execs", "40", "--seed", "3", "--jobs", "2", "--json"],
      ...["--family", "frame,raw-image,criu-image", "--out", out],
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as {
    level: string;
    results: { family: string; execs: number; counts: Record<string, number> }[];
  };
  assert.equal(summary.level, "core");
  assert.deepEqual(
    summary.results.map((x) => [x.family, x.execs]),
    [
      ["frame", 40],
      ["raw-image", 40],
      ["criu-image", 40],
    ],
  );
  for (const x of summary.results) assert.equal(x.counts.ok! + x.counts.typed!, 40, x.family);
  // Each family's progress reached the parent's log.
  for (const f of ["frame", "raw-image", "criu-image"]) assert.match(r.stderr, new RegExp(`${f}: 40 execs`));
});

test("--jobs 2 interrupted: the families' processes are stopped, no other starts, and the campaign ends of the signal", {
  timeout: 60_000,
}, async () => {
  const out = join(tmp, "lanes-interrupted");
  const child = spawn(
    process.execPath,
    [
      ...FUZZ,
      ...["--level", "core", "--seconds", "600", "--jobs", "2", "--out", out],
      ...["--family", "frame,raw-image,criu-image,state-json"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const campaignProcesses = () =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(out);
        } catch {
          return false;
        }
      });
  // Whatever happens to the test, the campaign and its families' processes do not outlive it.
  after(() => {
    for (const p of campaignProcesses()) process.kill(Number(p), "SIGKILL");
  });
  // Interrupted once the campaign runs a process for each of its first two families.
  for (let i = 0; i < 600 && campaignProcesses().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(campaignProcesses().length, 3, "the campaign and a process per running family");
  child.kill("SIGTERM");
  const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
    child.on("exit", (c, s) => r([c, s])),
  );
  assert.deepEqual([code, signal], [null, "SIGTERM"]);
  // The families' processes end with it; criu-image and state-json never started.
  for (let i = 0; i < 100 && campaignProcesses().length; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(campaignProcesses(), []);
  assert.doesNotMatch(err, /^(criu-image|state-json): /m);
});

describe("the engine", () => {
  test("execution n is the same input on every run; outcomes repeat", async () => {
    const mk = (dir: string) =>
      new Runner({
        family: familyByName("frame")!,
        seed: 7,
        dir: join(tmp, dir),
        budgets: { timeMs: 0, memoryBytes: 0 },
      });
    const a = mk("a");
    const b = mk("b");
    try {
      const sigs: string[][] = [[], []];
      for (let n = 0; n < 60; n++) {
        const x = await a.step(n);
        const y = await b.step(n);
        assert.deepEqual([y.c.seed, y.c.file, y.c.command], [x.c.seed, x.c.file, x.c.command]);
        assert.deepEqual(y.c.bytes, x.c.bytes);
        sigs[0]!.push(x.o.signature);
        sigs[1]!.push(y.o.signature);
      }
      assert.deepEqual(sigs[1], sigs[0]);
      assert.ok(new Set(sigs[0]).size > 3, "the mutations reach several outcomes");
    } finally {
      a.close();
      b.close();
    }
  });

  test("outcomes: a read input is ok, a refused one typed (one line, input named); minimising keeps the outcome", async () => {
    const r = new Runner({
      family: familyByName("elf-core")!,
      seed: 1,
      dir: join(tmp, "min"),
      budgets: { timeMs: 0, memoryBytes: 0 },
    });
    try {
      const seed = r.seeds.findIndex((s) => s.label === "generated amd-zen4");
      const scan = r.seeds[seed]!.commands.findIndex((c) => c[0] === "scan" && c.includes("--json"));
      const good = r.seeds[seed]!.files.get("frame.core")!;
      const ok = await r.execute({ seed, file: "frame.core", bytes: good, command: scan });
      assert.equal(ok.kind, "ok");
      assert.equal(ok.code, 0);
      // The same core with a program header table that runs past the end: refused.
      const bad = Uint8Array.from(good);
      new DataView(bad.buffer).setUint16(56, 0xfff0, true);
      const t = await r.execute({ seed, file: "frame.core", bytes: bad, command: scan });
      assert.equal(t.kind, "typed", t.detail);
      assert.match(t.detail, /^sigframe: .*frame\.core: .*program header/);
      // Minimised while the outcome stays the same: the header and little else remain.
      const c = { seed, file: "frame.core", bytes: bad, command: scan };
      const m = await r.minimise(c, (o) => o.signature === t.signature, 300);
      assert.ok(m.bytes.length < bad.length / 4, `${m.bytes.length} of ${bad.length}`);
      assert.equal((await r.execute(m)).signature, t.signature);
    } finally {
      r.close();
    }
  });
  test("a seed wrapped in a compression: mutated inside, written compressed, read through the decoder", async () => {
    const r = new Runner({
      family: familyByName("compressed-core")!,
      seed: 1,
      dir: join(tmp, "wrap"),
      budgets: { timeMs: 0, memoryBytes: 0 },
    });
    try {
      const seed = r.seeds.findIndex((s) => s.wrap !== undefined && s.main!.endsWith(".gz"));
      assert.ok(seed >= 0);
      const s = r.seeds[seed]!;
      const scan = s.commands.findIndex((c) => c[0] === "scan" && c.includes("--json"));
      const core = s.files.get(s.main!)!;
      const good = { seed, file: s.main!, bytes: core, command: scan };
      assert.equal((await r.execute(good)).code, 0);
      const written = r.caseFiles(good).get(s.main!)!;
      assert.deepEqual([written[0], written[1]], [0x1f, 0x8b]);
      assert.deepEqual(new Uint8Array(gunzipSync(written)), core);
      // The program header count of the core inside: the ELF reader's error, through the decoder.
      const bad = Uint8Array.from(core);
      new DataView(bad.buffer).setUint16(56, 0xfff0, true);
      const t = await r.execute({ ...good, bytes: bad });
      assert.equal(t.kind, "typed", t.detail);
      assert.match(t.detail, /program header/);
    } finally {
      r.close();
    }
  });
});

test("a killed campaign's scratch folder is removed by the next one; a live one's is kept", () => {
  const root = mkdtempSync(join(tmpdir(), "sigframe-fuzz-sweep-"));
  try {
    // A process that has exited: its pid names nothing alive.
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid;
    assert.ok(gone);
    for (const pid of [gone, process.pid])
      mkdirSync(join(root, `sigframe-fuzz-${pid}-frame`, "s0"), { recursive: true });
    mkdirSync(join(root, "unrelated-1"));
    assert.deepEqual(sweepStale(root, SCRATCH_NAME), [`sigframe-fuzz-${gone}-frame`]);
    assert.deepEqual(readdirSync(root).sort(), [`sigframe-fuzz-${process.pid}-frame`, "unrelated-1"].sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

describe("the watchdog", () => {
  const fake = new URL("./fake-worker.mjs", import.meta.url);
  const run = (fault: string, over: Partial<CampaignOptions> = {}) =>
    runFamily("profile-json", options({ execs: 1, workerPath: fake, workerExtra: { fault }, ...over }));

  test("a worker that spins past the hang limit is stopped; its case is recovered", async () => {
    const r = await run("spin", { hangCpuMs: 1000 });
    assert.equal(r.counts.time, 1);
    assert.equal(r.findings.length, 1);
    assert.match(r.findings[0]!.signature, /^time: still running after \d+ ms of CPU/);
    assert.equal(r.findings[0]!.detail, "case 0");
  });

  test("a worker whose memory runs away is stopped", async () => {
    const r = await run("rss", { rssLimitBytes: process.memoryUsage.rss() + 512 * 2 ** 20 });
    assert.equal(r.counts.memory, 1);
    assert.match(r.findings[0]!.signature, /^memory: process memory reached \d+ MiB/);
    assert.equal(r.findings[0]!.detail, "case 0");
  });

  test("a worker that exhausts its heap is a memory finding", async () => {
    const r = await run("heap", { heapMb: 64 });
    assert.equal(r.counts.memory, 1);
    assert.match(r.findings[0]!.signature, /ERR_WORKER_OUT_OF_MEMORY/);
  });

  test("an exception that escapes an execution is an untyped finding", async () => {
    const r = await run("throw");
    assert.equal(r.counts.untyped, 1);
    assert.match(r.findings[0]!.signature, /thrown by the fake worker/);
  });
});
