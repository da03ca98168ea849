import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { hasPvhNote, parseBzImage } from "../../src/core/bzimage.ts";
import { elfWithNotes, fakeBzImage } from "../helpers/kernel-image.ts";

test("parseBzImage: payload without the appended size, its compression, the version string", () => {
  const raw = new Uint8Array(1000).fill(7);
  const gz = gzipSync(raw);
  const img = parseBzImage(fakeBzImage(gz, raw.length));
  assert.equal(img.compression, "gzip");
  assert.equal(img.protocol, 0x20f);
  assert.equal(img.decompressedSize, 1000);
  assert.deepEqual(Buffer.from(img.payload), gz);
  assert.equal(img.version, "6.1.0-test (x@y) #1");
});

test("parseBzImage: not a bzImage, too old, cut short", () => {
  assert.throws(
    () => parseBzImage(new Uint8Array(100)),
    (e: Error & { kind?: string }) => e.kind === "truncated",
  );
  assert.throws(() => parseBzImage(new Uint8Array(4096)), /no 'HdrS'/);
  const old = fakeBzImage(new Uint8Array(10), 10);
  new DataView(old.buffer).setUint16(0x206, 0x204, true);
  assert.throws(() => parseBzImage(old), /predates payload_offset/);
  const cut = fakeBzImage(new Uint8Array(100), 100).subarray(0, 2100);
  assert.throws(() => parseBzImage(cut), /past the end/);
});

test("hasPvhNote: the Xen PHYS32_ENTRY note (18), nothing else", () => {
  assert.equal(
    hasPvhNote(
      elfWithNotes([
        ["GNU", 3],
        ["Xen", 18],
      ]),
    ),
    true,
  );
  assert.equal(
    hasPvhNote(
      elfWithNotes([
        ["GNU", 3],
        ["Xen", 17],
      ]),
    ),
    false,
  );
  assert.equal(hasPvhNote(elfWithNotes([["Xe", 18]])), false);
  assert.equal(hasPvhNote(new Uint8Array(10)), false);
});

const kernel = process.env.SIGFRAME_TEST_KERNEL;
test("parseBzImage on a distribution kernel", {
  skip: kernel ? false : "SIGFRAME_TEST_KERNEL is not set (.ci/run sets it)",
}, () => {
  const img = parseBzImage(readFileSync(kernel!));
  assert.ok(["gzip", "xz", "zstd", "lz4", "lzma", "bzip2", "lzo"].includes(img.compression), img.compression);
  assert.ok(img.decompressedSize > img.payload.length);
  assert.match(img.version ?? "", /^\d+\.\d+/);
});
