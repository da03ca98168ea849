// Writes V8's code cache of the CLI bundle (dist/bundle/code-cache/, read by bin/bundle-loader.js):
// runs a few commands in this one process through the bundle's second entry (dist/bundle/train.js,
// the runner with in-memory I/O), then saves, for every bundle file they loaded, the code V8
// compiled for it. The commands are those people start most often (built-in profiles, one CRIU
// image, a frame file, a scan, a check), with inputs made here: no ../shared, no native helper, no
// network. A command that fails still leaves what it compiled. scripts/build-cli.mjs runs this after
// each bundle build, without NODE_OPTIONS (other V8 flags would make V8 reject the cache later).
"use strict";
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const { BundleLoader } = require("../bin/bundle-loader.js");

const bundle = join(__dirname, "..", "dist", "bundle");

/** A CRIU image: u32 IMG_COMMON magic, u32 type magic, then (u32 size, protobuf payload) entries. */
function criuImage(typeMagic, payloads) {
  const parts = [Buffer.alloc(8)];
  parts[0].writeUInt32LE(0x54564319, 0);
  parts[0].writeUInt32LE(typeMagic, 4);
  for (const p of payloads) {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(p.length, 0);
    parts.push(size, Buffer.from(p));
  }
  return Buffer.concat(parts);
}

async function main() {
  const loader = new BundleLoader(bundle, { useCache: false });
  const { run, memoryIo, SUPPORTED_IMAGE_TYPES, IMAGE_MAGICS, INVENTORY_MAGIC } = loader.load(
    join(bundle, "train.js"),
  );
  // The command entry: compiled, not run (it would run the CLI on this process's arguments).
  loader.compile(join(bundle, "sigframe.js"));
  const dir = mkdtempSync(join(tmpdir(), "sigframe-train-"));
  try {
    const frame = join(dir, "frame.bin");
    // pstree.img: pid 1, ppid 0, pgid 1, sid 1 (the four required fields, varints).
    const pstree = join(dir, "pstree.img");
    writeFileSync(pstree, criuImage(0x50273030, [[0x08, 1, 0x10, 0, 0x18, 1, 0x20, 1]]));
    // core-1.img: mtype X86_64 and a task_core_entry (tc, field 3) with its required fields.
    const core = join(dir, "core-1.img");
    const tc = [0x08, 0x01, 0x10, 0x00, 0x18, 0x00, 0x20, 0x00, 0x28, 0x00, 0x32, 0x01, 0x78];
    writeFileSync(core, criuImage(0x55053847, [[0x08, 0x01, 0x1a, tc.length, ...tc]]));
    const commands = [
      ["--help"],
      ["layout", "amd-zen4", "--json"],
      ["layout", "intel-icelake-server"],
      ["profiles"],
      ["criu", "show", pstree, "--json"],
      ["criu", "show", core, "--json"],
      ["criu", "show", core],
      ["build", "--cpu", "amd-zen4", "-o", frame],
      ["inspect", frame, "--cpu", "amd-zen4", "--json"],
      ["predict", frame, "--cpu", "intel-icelake-server", "--policy", "classic"],
      ["scan", frame, "--all", "--json"],
      ["check", "--from", "intel-icelake-server", "--to", "amd-zen5", "--kernel", "6.18.44"],
    ];
    for (const argv of commands.splice(0)) await run(argv, memoryIo());
    // A raw memory image with the frame built above in it, scanned as people do (text and JSON).
    const raw = join(dir, "raw.img");
    writeFileSync(raw, Buffer.concat([Buffer.alloc(1 << 16), readFileSync(frame), Buffer.alloc(1 << 16)]));
    commands.push(
      ["scan", raw, "--base", "0x7f0000000000"],
      ["scan", raw, "--base", "0x7f0000000000", "--json"],
    );
    // Every image type criu show decodes, as an image without entries: each loads its schemas.
    for (const type of SUPPORTED_IMAGE_TYPES) {
      const img = join(dir, `${type.toLowerCase()}.img`);
      const head = type === "INVENTORY" ? [INVENTORY_MAGIC] : [0x54564319, IMAGE_MAGICS[type]];
      const b = Buffer.alloc(4 * head.length);
      for (let i = 0; i < head.length; i++) b.writeUInt32LE(head[i], 4 * i);
      writeFileSync(img, b);
      commands.push(["criu", "show", img, "--json"]);
    }
    for (const argv of commands) await run(argv, memoryIo());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const files = loader.writeCache();
  console.log(`code cache of ${files.length} files`);
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exitCode = 1;
});
