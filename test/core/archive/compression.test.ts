import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { type Compression, decompress, sniffCompression } from "../../../src/core/archive/compression.ts";
import { decodeBlock } from "../../../src/core/archive/lz4.ts";
import { bytesStream, readStream } from "../../../src/core/archive/streams.ts";
import { InvalidDataError, TruncatedInputError } from "../../../src/core/errors.ts";

/** Bytes that compress but are not trivial: a counter pattern with text and runs. */
function sample(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    if (i % 4096 < 1024) b[i] = 0;
    else if (i % 4096 < 2048) b[i] = "sigframe SXPF "[i % 14]!.charCodeAt(0);
    else {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
  }
  return b;
}

/** Compresses with the Debian tool, or undefined when it is not installed. */
function compress(tool: string[], input: Uint8Array): Uint8Array | undefined {
  const r = spawnSync(tool[0]!, tool.slice(1), { input, maxBuffer: 1 << 28 });
  if (r.error || r.status !== 0) return undefined;
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length);
}

const TOOLS: [Compression, string[]][] = [
  ["gzip", ["gzip", "-c"]],
  ["zstd", ["zstd", "-q", "-c"]],
  ["xz", ["xz", "-T1", "-0", "-c"]],
  ["lz4", ["lz4", "-q", "-c"]],
  ["lz4", ["lz4", "-q", "-c", "-BD", "-B4", "--content-size", "-BX"]],
];

const data = sample(3 << 20);

for (const [fmt, tool] of TOOLS) {
  test(`${tool.join(" ")}: detected by magic and decoded to the same bytes, in small input chunks`, async (t) => {
    const c = compress(tool, data);
    if (!c) return t.skip(`${tool[0]} is not installed`);
    assert.equal(sniffCompression(c), fmt);
    const out = await readStream(decompress(fmt, bytesStream(c, 7919)), 1 << 26, "output");
    assert.equal(out.length, data.length);
    assert.ok(Buffer.from(out).equals(Buffer.from(data)));
  });

  test(`${tool.join(" ")}: a truncated stream is a typed truncation error`, async (t) => {
    const c = compress(tool, data);
    if (!c) return t.skip(`${tool[0]} is not installed`);
    await assert.rejects(
      readStream(decompress(fmt, bytesStream(c.subarray(0, c.length >> 1))), 1 << 26, "output"),
      (e) => e instanceof TruncatedInputError,
    );
  });
}

test("concatenated gzip members and zstd frames decode as one stream", async (t) => {
  for (const [fmt, tool] of TOOLS.slice(0, 2)) {
    const a = compress(tool, data.subarray(0, 100000));
    const b = compress(tool, data.subarray(100000, 250000));
    if (!a || !b) return t.skip(`${tool[0]} is not installed`);
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const out = await readStream(decompress(fmt, bytesStream(both)), 1 << 26, "output");
    assert.ok(Buffer.from(out).equals(Buffer.from(data.subarray(0, 250000))), fmt);
  }
});

test("corrupt zstd and lz4 data are invalid-data errors, not crashes or hangs", async () => {
  const zstd = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]);
  await assert.rejects(readStream(decompress("zstd", bytesStream(zstd)), 1 << 20, "x"), InvalidDataError);
  // An lz4 frame with a block that claims more than the frame's 64 KiB block maximum.
  const lz4 = new Uint8Array([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0xff, 0xff, 0xff, 0x7f]);
  await assert.rejects(
    readStream(decompress("lz4", bytesStream(lz4)), 1 << 20, "x"),
    /larger than the frame's maximum/,
  );
});

test("an lz4 block whose match points before the data is refused", () => {
  // token: 1 literal, match len 4; literal 'a'; offset 5 (> 1 byte of output).
  const block = new Uint8Array([0x10, 0x61, 0x05, 0x00, 0x00]);
  assert.throws(() => decodeBlock(block, new Uint8Array(64), 0, 64, 0), /points before the data/);
});

test("an lz4 match that overlaps its own output repeats the pattern (RLE)", () => {
  // 2 literals "ab", match offset 2 length 6 → "abababab", then last literal token 0x10 'c'.
  const block = new Uint8Array([0x22, 0x61, 0x62, 0x02, 0x00, 0x10, 0x63]);
  const out = new Uint8Array(64);
  const end = decodeBlock(block, out, 0, 64, 0);
  assert.equal(Buffer.from(out.subarray(0, end)).toString(), "ababababc");
});

test("readStream refuses more than its limit without keeping it", async () => {
  await assert.rejects(
    readStream(bytesStream(new Uint8Array(5000), 100), 4096, "the member"),
    /larger than the limit/,
  );
});
