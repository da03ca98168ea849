/**
 * Checkpoint archives of processes made in the test (CRIU images written by the test, a dump.log
 * as runc's CRIU logs it, no cpuinfo.img), laid out as Podman, CRI-O and the kubelet write them:
 * one container, a pod with its containers as nested archives, a kubelet archive of pods. Built
 * in-process (tar) and compressed with Debian's gzip/zstd where installed. No ../shared.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { decodeText } from "../../src/core/text.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { compelDumpLog, criuImages } from "../helpers/criu-checkpoint.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";
import { tarHeader, tarOf } from "../helpers/tar.ts";

async function sf(...argv: string[]) {
  const io = memoryIo();
  const code = await run(argv, io);
  return { code, out: io.out, err: io.err };
}

const tmp = mkdtempSync(join(tmpdir(), "sigframe-archive-sim-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const has = (tool: string) => !spawnSync(tool, ["--version"]).error;
const enc = (s: string) => new TextEncoder().encode(s);

const HEAP = 0x555555560000n;
const STACK = 0x7ffffffde000n;
const TOP = STACK + 0x21000n;
const ZEN4 = computeLayout(builtinProfile("amd-zen4"));

/** A process on `cpu` with `n` live frames (1 or 3), its images, dump.log and core. */
function container(name: string, n: 1 | 3, tid = 700) {
  const threads: Parameters<typeof simulate>[1] = [
    { tid, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { k2: "0xabcd", zmm20: "0x12" } }] },
  ];
  if (n === 3)
    threads.push({
      tid: tid + 1,
      sp: STACK + 0x4000n,
      altstack: { sp: HEAP + 0x2a0n, size: 0x10000n },
      signals: [
        { signo: 12, onstack: true },
        { signo: 14, onstack: true },
      ],
    });
  const p = simulate(ZEN4, threads, [
    { start: HEAP, size: 0x21000 },
    { start: STACK, size: 0x21000 },
  ]);
  const images = criuImages(p, { mainStack: TOP - 0x100n });
  const dumpLog = compelDumpLog(ZEN4, {
    vendor: "AuthenticAMD",
    family: 25,
    brand: "AMD EPYC 9654 96-Core Processor",
  });
  const meta: [string, Uint8Array][] = [
    ["dump.log", enc(dumpLog)],
    [
      "config.dump",
      enc(
        JSON.stringify({
          id: `${name}0123456789abcdef`,
          name,
          rootfsImageName: "docker.io/library/debian:12",
          runtime: "runc",
          createdTime: "2026-12-01T10:00:00Z",
        }),
      ),
    ],
    [
      "spec.dump",
      enc(JSON.stringify({ ociVersion: "1.2.0", annotations: { "io.container.manager": "libpod" } })),
    ],
  ];
  // Podman's order: metadata, then checkpoint/ with pages after the pagemap (tar --sort=name).
  const members: [string, Uint8Array][] = [
    ...[...images]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([f, b]): [string, Uint8Array] => [`checkpoint/${f}`, b]),
    ...meta,
  ];
  return { p, images, members, dumpLog, core: elfCore(p, { mainStack: TOP - 0x100n }) };
}

function write(path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  return path;
}
function compress(tool: "gzip" | "zstd", bytes: Uint8Array): Uint8Array {
  const r = spawnSync(tool, ["-c", ...(tool === "zstd" ? ["-q"] : [])], { input: bytes, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  return new Uint8Array(r.stdout);
}
/** The unpacked layout of an archive's members, as a directory. */
function unpack(dir: string, members: [string, Uint8Array][]): string {
  for (const [n, b] of members) {
    mkdirSync(join(dir, n, ".."), { recursive: true });
    writeFileSync(join(dir, n), b);
  }
  return dir;
}

const web = container("web", 3);
const dir = unpack(join(tmp, "web"), web.members);

describe("a container checkpoint archive made in the test", () => {
  test("the image directory finds the frames the process has, as its ELF core does", async () => {
    const d = JSON.parse((await sf("scan", dir, "--json")).out);
    const core = JSON.parse((await sf("scan", write(join(tmp, "web.core"), web.core), "--json")).out);
    const live = (j: {
      frames: {
        confidence: string;
        ucontext: string;
        fpstate: string;
        depth: number;
        signal: number;
        thread: { tid: number };
      }[];
    }) =>
      j.frames
        .filter((f) => f.confidence === "high")
        .map((f) => [f.thread.tid, f.depth, f.signal, f.ucontext, f.fpstate]);
    assert.equal(live(d).length, 3);
    assert.deepEqual(live(d), live(core));
    assert.equal(d.target.cpuSource, "dump.log");
    assert.equal(d.target.container.name, "web");
  });

  const kinds: [string, () => Uint8Array | undefined][] = [
    ["tar", () => tarOf(web.members)],
    ["tar, pages before the pagemap (read twice)", () => tarOf([...web.members].reverse())],
    ["tar.gz", () => (has("gzip") ? compress("gzip", tarOf(web.members)) : undefined)],
    ["tar.zst", () => (has("zstd") ? compress("zstd", tarOf(web.members)) : undefined)],
  ];
  for (const [what, make] of kinds) {
    test(`${what}: scan gives exactly the directory's frames, threads and summary`, async (t) => {
      const bytes = make();
      if (!bytes) return t.skip("gzip or zstd is not installed");
      const want = JSON.parse((await sf("scan", dir, "--json")).out);
      const r = await sf("scan", write(join(tmp, `web-${what.replace(/\W+/g, "-")}`), bytes), "--json");
      assert.equal(r.code, 0, r.err);
      const got = JSON.parse(r.out);
      for (const k of ["frames", "threads", "summary", "missing"]) assert.deepEqual(got[k], want[k], k);
      assert.deepEqual(got.target.container, want.target.container);
      assert.equal(got.target.cpuSource, "dump.log");
    });
  }

  test("check --checkpoint ARCHIVE names the AMD-to-Intel misplacement from dump.log's layout (exit 3)", async () => {
    const file = write(join(tmp, "web-check.tar"), tarOf(web.members));
    const r = await sf("check", "--checkpoint", file, "--to", "intel-icelake-server", "--policy", "classic");
    assert.equal(r.code, 3, r.err);
    assert.match(
      r.out,
      /from {2}checkpoint web-check\.tar: AMD EPYC 9654 96-Core Processor \(AuthenticAMD family 25; model and stepping not recorded/,
    );
    assert.doesNotMatch(r.out, /model 0|stepping 0/);
    const j = JSON.parse(
      (
        await sf(
          "check",
          "--checkpoint",
          file,
          "--to",
          "intel-icelake-server",
          "--policy",
          "classic",
          "--json",
        )
      ).out,
    );
    const mis = j.findings
      .filter((f: { code: string }) => f.code === "component_misplaced")
      .map((f: { component: string }) => f.component);
    // The frames carry k2 (xstate_bv 0x223): OPMASK at AMD's 832 is read at Intel's 1088.
    assert.deepEqual(mis, ["OPMASK"]);
    assert.equal(
      j.from.cpu,
      "AMD EPYC 9654 96-Core Processor (AuthenticAMD family 25; model and stepping not recorded)",
    );
  });
});

describe("pods: each container reported", () => {
  const a = container("a", 3, 700);
  const b = container("b", 1, 900);
  const podOptions = enc(
    JSON.stringify({ version: 1, containers: ["a", "b"], mountLabel: "", processLabel: "" }),
  );
  const podDump = enc(JSON.stringify({ metadata: { name: "shop", namespace: "default", uid: "u1" } }));

  test("Podman's pod archive: pod.options, pod.dump and one archive per container (compressed or not)", async () => {
    const aTar = has("zstd") ? compress("zstd", tarOf(a.members)) : tarOf(a.members);
    const pod = tarOf([
      ["pod.options", podOptions],
      ["pod.dump", podDump],
      ["a.tar", aTar],
      ["b.tar", tarOf(b.members)],
    ]);
    const file = write(join(tmp, "pod.tar"), pod);
    const r = await sf("scan", file, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.containers.map((c: { target: { container: { name: string }; path: string } }) => [
        c.target.container.name,
        c.target.path,
      ]),
      [
        ["a", `${file}:a.tar`],
        ["b", `${file}:b.tar`],
      ],
    );
    assert.deepEqual(
      j.containers.map((c: { summary: { liveFrames: number } }) => c.summary.liveFrames),
      [3, 1],
    );
    // Each container's frames are those of its own directory.
    const aDir = JSON.parse((await sf("scan", unpack(join(tmp, "pod-a"), a.members), "--json")).out);
    assert.deepEqual(j.containers[0].frames, aDir.frames);
    const text = await sf("scan", file);
    assert.match(text.out, /Podman container "a"/);
    assert.match(text.out, /Podman container "b"/);
    const check = await sf(
      "check",
      "--checkpoint",
      file,
      "--to",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(check.code, 3, check.err);
    const ids = JSON.parse(check.out).frames.map((f: { id: string }) => f.id);
    assert.ok(
      ids.some((id: string) => id.startsWith("a/")) && ids.some((id: string) => id.startsWith("b/")),
      ids.join(" "),
    );
  });

  test("a kubelet archive (checkpointed.pods, one archive per pod) of a pod archive", async () => {
    const pod = tarOf([
      ["pod.options", podOptions],
      ["a.tar", tarOf(a.members)],
      ["b.tar", tarOf(b.members)],
    ]);
    const kubelet = tarOf([
      ["checkpointed.pods", enc(JSON.stringify({ version: 1, CheckpointedPods: [{ SandboxID: "9f8e" }] }))],
      ["9f8e.tar", pod],
    ]);
    const r = await sf("scan", write(join(tmp, "kubelet.tar"), kubelet), "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.containers.map((c: { target: { container: { name: string } } }) => c.target.container.name),
      ["a", "b"],
    );
  });

  test("the filesystem tars beside a checkpoint are not opened; a nested tar bomb is refused", async () => {
    const withRootfs = tarOf([...b.members, ["rootfs-diff.tar", tarOf([["etc/x", enc("x")]])]]);
    const r = await sf("scan", write(join(tmp, "rootfs.tar"), withRootfs), "--json");
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).summary.liveFrames, 1);
    const bomb = new Uint8Array(512 * 120_000 + 1024);
    const h = tarHeader("checkpoint/x", 0);
    for (let i = 0; i < 120_000; i++) bomb.set(h, i * 512);
    const nested = tarOf([["a.tar", bomb]]);
    const e = await sf("scan", write(join(tmp, "bomb-pod.tar"), nested));
    assert.equal(e.code, 2);
    assert.match(e.err.trimEnd(), /^sigframe: .*more than \d+ members \(a tar bomb\?\)$/);
  });
});

describe("the source CPU of a checkpoint as a PROFILE", () => {
  const archive = write(join(tmp, "web-profile.tar"), tarOf(web.members));
  test("layout ARCHIVE, layout DIR and layout dump.log: the layout CRIU logged, the model not recorded", async () => {
    const want = JSON.parse((await sf("layout", "amd-zen4", "--json")).out);
    for (const arg of [archive, dir, join(dir, "dump.log")]) {
      const r = await sf("layout", arg, "--json");
      assert.equal(r.code, 0, `${arg}: ${r.err}`);
      const j = JSON.parse(r.out);
      assert.deepEqual([j.profile.family, j.profile.model, j.profile.stepping], [25, null, null], arg);
      assert.equal(j.profile.family, 25);
      assert.equal(j.xcr0, want.xcr0);
      assert.equal(j.userSize, want.userSize);
      const offsets = (x: { components: { name: string; offset: number; enabled: boolean }[] }) =>
        x.components.filter((c) => c.enabled).map((c) => [c.name, c.offset]);
      assert.deepEqual(offsets(j), offsets(want), arg);
      const text = await sf("layout", arg);
      assert.match(
        text.out,
        /AuthenticAMD family 25; model and stepping not recorded: CRIU's dump\.log logs/,
      );
      assert.doesNotMatch(text.out, /model 0|stepping 0/);
      assert.match(text.out, /XCR0 0x2e7 \(from the xfeatures_mask CRIU logged in dump\.log\)/);
    }
  });

  test("check --from ARCHIVE and baseline with a checkpoint directory as one host", async () => {
    const r = await sf("check", "--from", archive, "--to", "intel-icelake-server", "--policy", "classic");
    assert.equal(r.code, 3, r.err);
    assert.match(
      r.out,
      /from {2}web-profile\.tar: AMD EPYC 9654 96-Core Processor \(AuthenticAMD family 25; model and stepping not recorded/,
    );
    const base = await sf("baseline", dir, "amd-zen4", "--json");
    assert.equal(base.code, 0, base.err);
    assert.equal(JSON.parse(base.out).hosts.length, 2);
  });

  test("a compressed core gives its plain core's profile", async (t) => {
    if (!has("zstd")) return t.skip("zstd is not installed");
    const plain = write(join(tmp, "web.core"), web.core);
    const z = write(join(tmp, "web.core.zst"), compress("zstd", web.core));
    const a = JSON.parse((await sf("layout", plain, "--json")).out);
    const b = JSON.parse((await sf("layout", z, "--json")).out);
    b.profile.name = a.profile.name;
    assert.deepEqual(b, a);
    assert.deepEqual([a.profile.family, a.profile.model, a.profile.stepping], [null, null, null]);
  });

  test("a CRIU log below level 4: one line saying what is missing", async () => {
    const log = write(
      join(tmp, "quiet-dump.log"),
      enc("(00.000001) Version: 4.2\n(00.000002) Dumping finished successfully\n"),
    );
    const r = await sf("layout", log);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(
      r.err.trimEnd(),
      /^sigframe: \S+: a CRIU log without the dumping CPU's XSAVE layout: no 'cpu: fpu: xfeatures_mask' line/,
    );
  });
});

describe("criu show on a checkpoint: its members, and one image of it", () => {
  const archive = write(join(tmp, "web-show.tar"), tarOf(web.members));
  test("criu show ARCHIVE and criu show DIR list images by type, pages and metadata, by container", async () => {
    for (const arg of [archive, dir]) {
      const r = await sf("criu", "show", arg, "--json");
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      const byName = new Map(j.members.map((m: { name: string }) => [m.name, m]));
      assert.deepEqual(byName.get("checkpoint/core-700.img"), {
        name: "checkpoint/core-700.img",
        kind: "image",
        size: web.images.get("core-700.img")!.length,
        magic: "CORE",
        container: "",
      });
      assert.equal((byName.get("checkpoint/pages-1.img") as { kind: string }).kind, "pages");
      assert.equal((byName.get("dump.log") as { kind: string }).kind, "metadata");
      assert.equal(j.containers[0].name, "web");
      const text = await sf("criu", "show", arg);
      assert.match(text.out, /checkpoint\/mm-700\.img +CRIU image MM/);
      assert.match(text.out, /Podman container "web"/);
    }
  });

  test("ARCHIVE:MEMBER and --member decode the image as criu show FILE does (crit JSON)", async () => {
    const want = await sf("criu", "show", join(dir, "checkpoint", "core-701.img"), "--json");
    for (const argv of [
      [`${archive}:checkpoint/core-701.img`],
      [archive, "--member", "core-701.img"],
      [dir, "--member", "core-701.img"],
    ]) {
      const r = await sf("criu", "show", ...argv, "--json");
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`);
      assert.equal(r.out, want.out);
    }
  });

  test("a metadata member (config.dump, dump.log) is shown as its text; --json pretty-prints JSON metadata", async () => {
    const config = JSON.parse(decodeText(web.members.find(([n]) => n === "config.dump")![1]));
    for (const argv of [
      [`${archive}:config.dump`],
      [archive, "--member", "config.dump"],
      [dir, "--member", "config.dump"],
    ]) {
      const r = await sf("criu", "show", ...argv);
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`);
      assert.deepEqual(JSON.parse(r.out), config);
      const j = await sf("criu", "show", ...argv, "--json");
      assert.equal(j.out, `${JSON.stringify(config, null, 2)}\n`);
    }
    const log = await sf("criu", "show", `${archive}:dump.log`);
    assert.equal(log.code, 0, log.err);
    assert.match(log.out, /xfeatures_mask/);
    const asJson = await sf("criu", "show", `${archive}:dump.log`, "--json");
    assert.equal(asJson.code, 2);
    assert.equal(asJson.out, "");
    assert.match(
      asJson.err,
      /^sigframe: .*dump\.log: container metadata that is not JSON: drop --json to see its text\n$/,
    );
  });

  test("a pod: members inside the container archives; an ambiguous name, a pages file, a missing one", async () => {
    const a = container("a", 1, 700);
    const b = container("b", 1, 900);
    const pod = write(
      join(tmp, "pod-show.tar"),
      tarOf([
        ["a.tar", tarOf(a.members)],
        ["b.tar", tarOf(b.members)],
      ]),
    );
    const list = JSON.parse((await sf("criu", "show", pod, "--json")).out);
    assert.deepEqual(
      list.containers.map((c: { prefix: string; name: string }) => [c.prefix, c.name]),
      [
        ["a.tar/", "a"],
        ["b.tar/", "b"],
      ],
    );
    const one = await sf("criu", "show", pod, "--member", "b.tar/checkpoint/pstree.img", "--json");
    assert.equal(one.code, 0, one.err);
    assert.equal(JSON.parse(one.out).entries[0].pid, 900);
    const cases: [string, RegExp][] = [
      [
        "pstree.img",
        /names 2 members \(a\.tar\/checkpoint\/pstree\.img, b\.tar\/checkpoint\/pstree\.img\): give more of the name$/,
      ],
      [
        "pages-1.img",
        /is a pages file \(the process's memory, not a CRIU image\): 'sigframe scan' reads it$/,
      ],
      ["core-1.img", /no such member in the archive/],
    ];
    for (const [m, re] of cases) {
      const r = await sf("criu", "show", pod, "--member", m);
      assert.equal(r.code, 2, m);
      assert.equal(r.out, "");
      assert.equal(r.err.trimEnd().split("\n").length, 1);
      assert.match(r.err.trimEnd(), re);
    }
  });
});
