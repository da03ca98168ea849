import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { hasPvhNote, parseBzImage } from "../../src/core/bzimage.ts";

/** A bzImage-shaped file: setup header with HdrS, protocol 2.15, payload and its appended size. */
function fakeBzImage(payload: Uint8Array, size: number, version = "6.1.0-test (x@y) #1"): Uint8Array {
  const setupSects = 3;
  const pm = (setupSects + 1) * 512;
  const b = new Uint8Array(pm + 0x100 + payload.length + 4);
  const dv = new DataView(b.buffer);
  b[0x1f1] = setupSects;
  dv.setUint32(0x202, 0x53726448, true);
  dv.setUint16(0x206, 0x20f, true);
  dv.setUint16(0x20e, 0x400 - 0x200, true);
  b.set(Buffer.from(`${version}\0`, "latin1"), 0x400);
  dv.setUint32(0x248, 0x100, true);
  dv.setUint32(0x24c, payload.length + 4, true);
  b.set(payload, pm + 0x100);
  dv.setUint32(pm + 0x100 + payload.length, size, true);
  return b;
}

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

/** An ELF64 with one PT_NOTE segment holding the given (name, type) notes. */
function elfWithNotes(notes: [string, number][]): Uint8Array {
  const body: number[] = [];
  for (const [name, type] of notes) {
    const n = Buffer.from(`${name}\0`);
    const word = (v: number) => body.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
    word(n.length);
    word(4);
    word(type);
    body.push(...n, ...new Array((4 - (n.length % 4)) % 4).fill(0), 1, 2, 3, 4);
  }
  const b = new Uint8Array(64 + 56 + body.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setBigUint64(0x20, 64n, true);
  dv.setUint16(0x36, 56, true);
  dv.setUint16(0x38, 1, true);
  dv.setUint32(64, 4, true); // PT_NOTE
  dv.setBigUint64(64 + 8, 120n, true);
  dv.setBigUint64(64 + 32, BigInt(body.length), true);
  b.set(body, 120);
  return b;
}

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
