/**
 * Checkpoints as users hold them: the fixtures' image directories exported the way Podman and the
 * kubelet write them (checkpoint/, config.dump, spec.dump, dump.log, no cpuinfo.img), built at test
 * time with Debian's tar and zstd/gzip; and hostile archives built by hand.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { sf } from "../helpers/cli.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";
import { tarHeader, tarOf } from "../helpers/tar.ts";

const tmp = mkdtempSync(join(tmpdir(), "sigframe-archive-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const has = (tool: string) => !spawnSync(tool, ["--version"]).error;

/** A Podman-style export of a fixture scenario: a folder to tar. */
function podmanLayout(s: string, name: string): string {
  const src = join(FIXTURES, "criu", s);
  const dir = join(tmp, `${name}-layout`);
  mkdirSync(join(dir, "checkpoint"), { recursive: true });
  for (const f of readdirSync(src))
    if (f !== "cpuinfo.img" && f !== "logs") copyFileSync(join(src, f), join(dir, "checkpoint", f));
  copyFileSync(join(src, "logs", "dump.log"), join(dir, "dump.log"));
  writeFileSync(
    join(dir, "config.dump"),
    JSON.stringify({
      id: "5f1e2d3c4b5a69788796a5b4",
      name,
      rootfsImageName: "docker.io/library/debian:12",
      runtime: "runc",
      createdTime: "2026-12-01T10:00:00Z",
    }),
  );
  writeFileSync(
    join(dir, "spec.dump"),
    JSON.stringify({ ociVersion: "1.2.0", annotations: { "io.container.manager": "libpod" } }),
  );
  return dir;
}

function tarDir(dir: string, out: string, compress?: string[], sort = true): string {
  const args = ["-C", dir, ...(sort ? ["--sort=name"] : []), "-cf", "-", "."];
  const t = spawnSync("tar", args, { maxBuffer: 1 << 28 });
  assert.equal(t.status, 0, String(t.stderr));
  let bytes: Buffer = t.stdout;
  if (compress) {
    const c = spawnSync(compress[0]!, compress.slice(1), { input: bytes, maxBuffer: 1 << 28 });
    assert.equal(c.status, 0, String(c.stderr));
    bytes = c.stdout;
  }
  writeFileSync(out, bytes);
  return out;
}

const fixtures = needs(FIXTURES, "signal-frame fixtures");

describe("checkpoint archives of the fixtures", fixtures, () => {
  const kinds: [string, string[] | undefined, boolean][] = [
    ["tar.zst", ["zstd", "-q", "-c"], true],
    ["tar.gz", ["gzip", "-c"], true],
    ["tar", undefined, true],
    ["unsorted.tar", undefined, false],
  ];
  for (const s of ["S2", "S3", "S5"]) {
    test(`${s}: scan of every export gives exactly the image directory's frames and threads`, async (t) => {
      if (!has("tar") || !has("zstd")) return t.skip("tar or zstd is not installed");
      const dir = await sf("scan", join(FIXTURES, "criu", s), "--json");
      assert.equal(dir.code, 0, dir.err);
      const want = JSON.parse(dir.out);
      const layout = podmanLayout(s, `ctr-${s.toLowerCase()}`);
      for (const [ext, comp, sort] of kinds) {
        const file = tarDir(layout, join(tmp, `${s}.${ext}`), comp, sort);
        const r = await sf("scan", file, "--json");
        assert.equal(r.code, 0, `${ext}: ${r.err}`);
        const got = JSON.parse(r.out);
        assert.deepEqual(got.frames, want.frames, ext);
        assert.deepEqual(got.threads, want.threads, ext);
        assert.equal(got.summary.liveFrames, want.summary.liveFrames);
        assert.equal(got.summary.bytesScanned, want.summary.bytesScanned);
        assert.equal(got.target.cpuSource, "dump.log");
        assert.equal(got.target.container.engine, "Podman");
        assert.equal(got.target.container.name, `ctr-${s.toLowerCase()}`);
        assert.equal(
          got.archive.compression,
          ext === "tar.zst" ? "zstd" : ext === "tar.gz" ? "gzip" : "none",
        );
      }
    });
  }

  test("check --checkpoint ARCHIVE names the AMD-to-Intel misplacement from dump.log's layout (exit 3)", async (t) => {
    if (!has("tar") || !has("zstd")) return t.skip("tar or zstd is not installed");
    const file = tarDir(podmanLayout("S2", "web"), join(tmp, "check.tar.zst"), ["zstd", "-q", "-c"]);
    const r = await sf(
      "check",
      "--checkpoint",
      file,
      "--to",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(r.code, 3, r.err);
    const j = JSON.parse(r.out);
    const mis = j.findings
      .filter((f: { code: string }) => f.code === "component_misplaced")
      .map((f: { component: string }) => f.component);
    assert.deepEqual(mis.sort(), ["OPMASK", "ZMM_Hi256"]);
  });

  test("a pod archive with two containers reports each", async (t) => {
    if (!has("tar")) return t.skip("tar is not installed");
    const pod = join(tmp, "pod");
    mkdirSync(pod, { recursive: true });
    spawnSync("cp", ["-r", podmanLayout("S2", "a"), join(pod, "a")]);
    spawnSync("cp", ["-r", podmanLayout("S1", "b"), join(pod, "b")]);
    writeFileSync(join(pod, "pod.options"), JSON.stringify({ version: 1, containers: ["a", "b"] }));
    const file = tarDir(pod, join(tmp, "pod.tar"));
    const r = await sf("scan", file, "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(
      j.containers.map((c: { target: { container: { name: string } } }) => c.target.container.name),
      ["a", "b"],
    );
    assert.deepEqual(
      j.containers.map((c: { summary: { liveFrames: number } }) => c.summary.liveFrames),
      [1, 0],
    );
    const text = await sf("scan", file);
    assert.match(text.out, /Podman container "a"/);
    assert.match(text.out, /Podman container "b"/);
  });
});

describe("hostile archives: one line, exit 2", () => {
  const cases: [string, () => Uint8Array][] = [
    ["truncated", () => tarOf([["checkpoint/pstree.img", new Uint8Array(5000)]]).subarray(0, 3000)],
    [
      "a member claiming 2^40 bytes",
      () => {
        const b = new Uint8Array(512 + 8192);
        b.set(tarHeader("checkpoint/pages-1.img", 1n << 40n));
        return b;
      },
    ],
    ["a path traversal name", () => tarOf([["../../etc/cron.d/x", new Uint8Array(4)]])],
    ["an absolute name", () => tarOf([["/etc/passwd", new Uint8Array(4)]])],
    ["no CRIU images", () => tarOf([["README", new Uint8Array(4)]])],
  ];
  for (const [what, make] of cases) {
    test(what, async () => {
      const f = join(tmp, `hostile-${what.replace(/\W+/g, "-")}.tar`);
      writeFileSync(f, make());
      for (const argv of [
        ["scan", f],
        ["check", "--checkpoint", f, "--to", "amd-zen4"],
      ]) {
        const r = await sf(...argv);
        assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`);
        assert.equal(r.out, "");
        assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
        assert.match(r.err, /^sigframe: /);
      }
    });
  }

  test("a tar bomb of a million members is refused at the member limit", async (t) => {
    if (!has("zstd")) return t.skip("zstd is not installed");
    const f = join(tmp, "bomb.tar.zst");
    // One header per member, no bodies (512 MB of headers; the compressed file is small).
    const header = tarHeader("checkpoint/x", 0);
    const zs = spawnSync("zstd", ["-q", "-c", "-1"], {
      input: Buffer.concat([repeated(header, 1_000_000), Buffer.alloc(1024)]),
      maxBuffer: 1 << 26,
    });
    writeFileSync(f, zs.stdout);
    const r = await sf("scan", f);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /more than 100000 members/);
    assert.equal(r.err.trimEnd().split("\n").length, 1);
    // The zstd process decompressing it is stopped with the scan, not left writing into a pipe
    // nobody reads (it kept this process, and the test run, alive).
    assert.deepEqual(await childrenNamed("zstd"), []);
  });
});

function repeated(b: Uint8Array, n: number): Buffer {
  const out = Buffer.alloc(b.length * n);
  for (let i = 0; i < n; i++) out.set(b, i * b.length);
  return out;
}

/** This process's live children with the given command name (a stopped one is reaped first). */
async function childrenNamed(comm: string): Promise<number[]> {
  const live = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          return stat.includes(`(${comm})`) && Number(fields[1]) === process.pid && fields[0] !== "Z";
        } catch {
          return false;
        }
      })
      .map(Number);
  // A killed child is reaped on a later turn of the event loop: a few turns, not a clock.
  for (let i = 0; i < 50 && live().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return live();
}
