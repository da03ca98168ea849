/**
 * The image abi-test hands to QEMU (src/node/vmlinux.ts), on kernel images made in memory: the
 * decompressed ELF through its PVH entry where it has one, cached under the image's hash; the
 * bzImage as it is, with the reason, otherwise.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { bootImage } from "../../src/node/vmlinux.ts";
import { elfWithNotes, fakeBzImage } from "../helpers/kernel-image.ts";

function image(dir: string, name: string, payload: Uint8Array, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, fakeBzImage(payload, size));
  return path;
}

test("bootImage: a kernel with the PVH note boots as its decompressed ELF, kept in the cache", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-vmlinux-"));
  const cache = join(dir, "cache");
  const elf = elfWithNotes([
    ["GNU", 3],
    ["Xen", 18],
  ]);
  const k = image(dir, "vmlinuz", gzipSync(elf), elf.length);
  mkdirSync(cache);
  const b = await bootImage(k, cache);
  assert.equal(b.how, "pvh");
  assert.equal(b.note, undefined);
  assert.match(b.version ?? "", /^6\.1\.0-test/);
  assert.deepEqual(new Uint8Array(readFileSync(b.path)), elf);
  assert.equal(readdirSync(cache).length, 1);
  // The second time it is the cached file, not another one.
  assert.equal((await bootImage(k, cache)).path, b.path);
  assert.equal(readdirSync(cache).length, 1);
});

test("bootImage: without the PVH note, an undecodable payload or an unknown compression, the bzImage with the reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-vmlinux-"));
  const elf = elfWithNotes([["Xen", 17]]);
  for (const [name, payload, size, note] of [
    ["no-pvh", gzipSync(elf), elf.length, /its ELF has no PVH entry note: booted as a bzImage/],
    [
      "corrupt",
      Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]),
      4096,
      /its gzip payload did not decompress \(.*\): booted as a bzImage/,
    ],
    ["unknown", new Uint8Array(64).fill(0x55), 4096, /compression is unknown: booted as a bzImage/],
  ] as const) {
    const k = image(dir, name, payload, size);
    const b = await bootImage(k, dir);
    assert.equal(b.how, "bzimage", name);
    assert.equal(b.path, k, name);
    assert.match(b.note ?? "", note, name);
  }
});
