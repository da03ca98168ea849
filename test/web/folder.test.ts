/**
 * An image folder picked in the page is scanned as the tar of the folder (web/src/folder.ts):
 * GNU tar reads that stream as the folder, and the scan is what `sigframe scan DIR` finds.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { bytesStream, readStream } from "../../src/core/archive/streams.ts";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { folderOrder, folderTar, ustarHeader } from "../../web/src/folder.ts";
import { type FolderUpload, scanFolder } from "../../web/src/model.ts";
import { criuImages } from "../helpers/criu-checkpoint.ts";
import { simulate } from "../helpers/process-core.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";
import { sfIn } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-web-folder-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A folder's files as the page's folder input gives them (webkitRelativePath under its name). */
function uploads(folder: string, name: string): FolderUpload[] {
  return (readdirSync(folder, { recursive: true }) as string[])
    .filter((f) => statSync(join(folder, f)).isFile())
    .map((f) => {
      const bytes = readFileSync(join(folder, f));
      return {
        name: f.split("/").pop()!,
        size: bytes.length,
        webkitRelativePath: `${name}/${f}`,
        stream: () => new Blob([bytes]).stream(),
      };
    });
}

/** A process on Zen 4 in a SIGUSR1 handler, as a CRIU image folder. */
function zen4Folder(): string {
  const STACK = 0x7ffffffde000n;
  const p = simulate(
    computeLayout(builtinProfile("amd-zen4")),
    [{ tid: 77, sp: STACK + 0x20800n, signals: [{ signo: 10, regs: { k2: "0x1234" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const folder = join(dir, "zen4-images");
  mkdirSync(folder);
  for (const [n, b] of criuImages(p, { mainStack: STACK + 0x20f00n })) writeFileSync(join(folder, n), b);
  return folder;
}

test("the folder's tar stream is a tar GNU tar reads back file for file, pages last", async () => {
  const folder = zen4Folder();
  const files = readdirSync(folder).map((f) => {
    const bytes = readFileSync(join(folder, f));
    return { path: f, size: bytes.length, stream: () => bytesStream(bytes, 1000) };
  });
  const order = folderOrder(files).map((f) => f.path);
  assert.ok(order.some((n) => /^pages-\d+\.img$/.test(n)));
  assert.match(order[order.length - 1]!, /^pages-\d+\.img$/);
  const tar = await readStream(folderTar(files), 1 << 26, "tar");
  const t = spawnSync("tar", ["-tvf", "-"], { input: tar, encoding: "utf8" });
  if (t.error) return; // no tar on this machine: the scan test below still reads it
  assert.equal(t.status, 0, t.stderr);
  const listed = t.stdout
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/));
  assert.deepEqual(
    listed.map((c) => [c[c.length - 1], Number(c[2])]),
    order.map((n) => [n, statSync(join(folder, n)).size]),
  );
  const out = join(dir, "untarred");
  mkdirSync(out);
  assert.equal(spawnSync("tar", ["-xf", "-", "-C", out], { input: tar }).status, 0);
  for (const n of order) assert.deepEqual(readFileSync(join(out, n)), readFileSync(join(folder, n)), n);
});

test("names a tar header cannot hold, and files that change while read, are refused", async () => {
  assert.throws(() => ustarHeader("x".repeat(101), 1), /longer than a tar member name/);
  const liar = [{ path: "core-1.img", size: 10, stream: () => bytesStream(new Uint8Array(4)) }];
  await assert.rejects(readStream(folderTar(liar), 1 << 20, "tar"), /shorter than its size/);
});

test("a picked image folder scans as 'sigframe scan DIR'", async () => {
  const folder = existsSync(join(dir, "zen4-images")) ? join(dir, "zen4-images") : zen4Folder();
  const cli = await sfIn(dir, ["scan", "zen4-images", "--json"]);
  assert.equal(cli.code, 0, cli.err);
  const image = await scanFolder(uploads(folder, "zen4-images"), "zen4-images");
  const doc = JSON.parse(cli.out);
  const frames = image.parts.flatMap((p) => p.scans.flatMap((s) => s.result.frames));
  assert.deepEqual(
    frames.map((f) => [`0x${f.ucontext.toString(16)}`, f.depth, f.signalName, f.confidence]),
    doc.frames.map((f: { ucontext: string; depth: number; signalName: string; confidence: string }) => [
      f.ucontext,
      f.depth,
      f.signalName,
      f.confidence,
    ]),
  );
  assert.equal(image.liveFrames, 1);
  assert.equal(image.parts[0]!.target.profile?.name, doc.target.profile);
  // A folder without pstree.img is not a checkpoint: the CLI's kind of one-line error.
  await assert.rejects(
    scanFolder(
      uploads(folder, "zen4-images").filter((f) => f.name !== "pstree.img"),
      "zen4-images",
    ),
    /not a CRIU image folder: no pstree.img/,
  );
});

test(
  "the real checkpoints of ../shared/fixtures scan in the page as on the command line",
  needs(FIXTURES, "fixtures"),
  async () => {
    for (const s of ["S2", "S3", "S5"]) {
      const folder = join(FIXTURES, "criu", s);
      const cli = await sfIn(join(FIXTURES, "criu"), ["scan", s, "--json"]);
      assert.equal(cli.code, 0, cli.err);
      const doc = JSON.parse(cli.out);
      const image = await scanFolder(uploads(folder, s), s);
      const frames = image.parts.flatMap((p) => p.scans.flatMap((x) => x.result.frames));
      assert.deepEqual(
        frames.map((f) => [`0x${f.ucontext.toString(16)}`, f.depth, f.confidence]),
        doc.frames.map((f: { ucontext: string; depth: number; confidence: string }) => [
          f.ucontext,
          f.depth,
          f.confidence,
        ]),
        s,
      );
      assert.equal(image.liveFrames, doc.summary.liveFrames, s);
    }
  },
);
