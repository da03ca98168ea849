import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesStream, readStream } from "../../../src/core/archive/streams.ts";
import { memberName, tarMembers } from "../../../src/core/archive/tar.ts";
import { InvalidDataError, TruncatedInputError } from "../../../src/core/errors.ts";
import { tarHeader, tarOf } from "../../helpers/tar.ts";

const enc = (s: string) => new TextEncoder().encode(s);

async function list(bytes: Uint8Array, max?: number): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const m of tarMembers(bytesStream(bytes, 1000), max === undefined ? {} : { maxMembers: max }))
    out.push([m.name, new TextDecoder().decode(await readStream(m.body, 1 << 20, m.name))]);
  return out;
}

test("members come in archive order with their bytes; ./ prefixes are dropped", async () => {
  const t = tarOf([
    ["./config.dump", enc('{"name":"c"}')],
    ["checkpoint/pstree.img", enc("x".repeat(1500))],
  ]);
  assert.deepEqual(await list(t), [
    ["config.dump", '{"name":"c"}'],
    ["checkpoint/pstree.img", "x".repeat(1500)],
  ]);
});

test("a member whose body is not read is skipped, and the next one is still right", async () => {
  const t = tarOf([
    ["a", enc("A".repeat(3000))],
    ["b", enc("B")],
  ]);
  const names: string[] = [];
  let b = "";
  for await (const m of tarMembers(bytesStream(t))) {
    names.push(m.name);
    if (m.name === "b") b = new TextDecoder().decode(await readStream(m.body, 10, "b"));
  }
  assert.deepEqual(names, ["a", "b"]);
  assert.equal(b, "B");
});

test("a truncated archive is a truncation error, whether or not the member is read", async () => {
  const t = tarOf([["checkpoint/pages-1.img", new Uint8Array(8192)]]).subarray(0, 4000);
  await assert.rejects(list(t), TruncatedInputError);
  await assert.rejects(
    (async () => {
      for await (const _ of tarMembers(bytesStream(t))) {
      }
    })(),
    TruncatedInputError,
  );
});

test("a member claiming 2^40 bytes ends as a truncated archive without allocating its size", async () => {
  const t = new Uint8Array(512 + 4096);
  t.set(tarHeader("checkpoint/pages-1.img", 1n << 40n));
  const before = process.memoryUsage().arrayBuffers;
  await assert.rejects(list(t), TruncatedInputError);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 26);
});

test("names that leave the archive are refused", async () => {
  for (const n of ["../etc/passwd", "/etc/passwd", "checkpoint/../../x"]) {
    await assert.rejects(
      list(tarOf([[n, enc("x")]])),
      (e) => e instanceof InvalidDataError && /member 0/.test(e.message),
      n,
    );
  }
  assert.equal(memberName("./checkpoint//core-1.img", 0), "checkpoint/core-1.img");
});

test("more members than the limit is refused at the limit (a tar bomb)", async () => {
  const members: [string, Uint8Array][] = [];
  for (let i = 0; i < 50; i++) members.push([`f${i}`, new Uint8Array(0)]);
  await assert.rejects(list(tarOf(members), 20), /more than 20 members/);
  assert.equal((await list(tarOf(members), 50)).length, 50);
});

test("bytes that are not a tar archive are invalid data", async () => {
  await assert.rejects(list(new Uint8Array(2048).fill(7)), InvalidDataError);
});
