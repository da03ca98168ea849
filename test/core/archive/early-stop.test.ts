/**
 * A reader that stops early (a member limit, an error, a consumer that has seen enough) tells its
 * source, down to the producer: in the CLI that is a decompressor process or an open file, which
 * otherwise stays alive and keeps the process from exiting.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { uncompressed, walkArchive } from "../../../src/core/archive/checkpoint.ts";
import { sniffStream } from "../../../src/core/archive/input.ts";
import { lz4Decompress } from "../../../src/core/archive/lz4.ts";
import type { ByteStream } from "../../../src/core/archive/streams.ts";
import { tarMembers } from "../../../src/core/archive/tar.ts";
import { InvalidDataError } from "../../../src/core/errors.ts";
import { tarHeader } from "../../helpers/tar.ts";

/** A source in `size`-byte chunks that records how far it was read and whether it was closed. */
function tracked(bytes: Uint8Array, size = 4096) {
  const state = { chunks: 0, closed: false, ended: false };
  const stream: ByteStream = {
    async *[Symbol.asyncIterator]() {
      try {
        for (let o = 0; o < bytes.length; o += size) {
          state.chunks++;
          yield bytes.subarray(o, o + size);
        }
        state.ended = true;
      } finally {
        state.closed = true;
      }
    },
  };
  return { stream, state };
}

/** `n` empty tar members (a small tar bomb) and the end blocks. */
function emptyMembers(n: number): Uint8Array {
  const h = tarHeader("checkpoint/x", 0);
  const out = new Uint8Array(h.length * n + 1024);
  for (let i = 0; i < n; i++) out.set(h, i * h.length);
  return out;
}

test("a member limit reached in a plain tar closes the source before its end", async () => {
  const { stream, state } = tracked(emptyMembers(5000));
  await assert.rejects(async () => {
    for await (const _ of tarMembers(uncompressed(stream), { maxMembers: 100 })) {
    }
  }, InvalidDataError);
  assert.equal(state.closed, true);
  assert.equal(state.ended, false);
  assert.ok(state.chunks < 5000 / 8, `read ${state.chunks} chunks of a 5000-member archive`);
});

test("walkArchive's member budget closes the source too", async () => {
  const { stream, state } = tracked(emptyMembers(5000));
  await assert.rejects(
    walkArchive(stream, () => {}, { maxMembers: 50 }),
    /more than 50 members/,
  );
  assert.equal(state.closed, true);
  assert.equal(state.ended, false);
});

test("a sniffed stream that is left early closes its source", async () => {
  const { stream, state } = tracked(emptyMembers(2000));
  const sniffed = await sniffStream(stream);
  assert.equal(sniffed.kind, "checkpoint-archive");
  for await (const _ of sniffed.stream) break;
  assert.equal(state.closed, true);
  assert.equal(state.ended, false);
});

test("lz4: a consumer that stops early closes the compressed source", async (t) => {
  const plain = new Uint8Array(4 << 20).map((_, i) => (i * 2654435761) >>> 27);
  const r = spawnSync("lz4", ["-q", "-c", "-B4"], { input: plain, maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) return t.skip("lz4 is not installed");
  const { stream, state } = tracked(new Uint8Array(r.stdout), 1024);
  for await (const _ of lz4Decompress(stream)) break;
  assert.equal(state.closed, true);
  assert.equal(state.ended, false);
});
