import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { bytesStream, concat, readStream } from "../../../src/core/archive/streams.ts";
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

describe("what real tars write: GNU long names, pax, ustar's prefix field", () => {
  // Longer than the 100-byte name field; its last component fits ustar's name, the rest its prefix.
  const long = `checkpoint/${"d".repeat(90)}/${"n".repeat(80)}.img`;
  const tarOfDir = (format: string): Uint8Array | undefined => {
    if (spawnSync("tar", ["--version"]).error) return undefined;
    const dir = mkdtempSync(join(tmpdir(), "sigframe-tar-"));
    try {
      mkdirSync(join(dir, "checkpoint", "d".repeat(90)), { recursive: true });
      writeFileSync(join(dir, long), "L".repeat(3000));
      writeFileSync(join(dir, "checkpoint/core-1.img"), "C");
      const r = spawnSync("tar", ["-C", dir, `--format=${format}`, "--sort=name", "-cf", "-", "checkpoint"], {
        maxBuffer: 1 << 24,
      });
      assert.equal(r.status, 0, String(r.stderr));
      return new Uint8Array(r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  for (const format of ["gnu", "pax", "ustar", "oldgnu"]) {
    test(`tar --format=${format}`, async (t) => {
      const bytes = tarOfDir(format);
      if (!bytes) return t.skip("tar is not installed");
      const files: [string, string][] = [];
      for await (const m of tarMembers(bytesStream(bytes, 777)))
        if (m.type === "file")
          files.push([m.name, new TextDecoder().decode(await readStream(m.body, 1 << 20, m.name))]);
        else assert.equal(m.type, "directory");
      assert.deepEqual(files, [
        ["checkpoint/core-1.img", "C"],
        [long, "L".repeat(3000)],
      ]);
    });
  }
});

/** A pax extended header (`x`) with the given records, padded. */
function paxHeader(records: string): Uint8Array[] {
  const body = enc(records);
  return [tarHeader("PaxHeaders/x", body.length, "x"), body, new Uint8Array(-body.length & 511)];
}

test("a pax size and path replace the header's; a bad pax record or size is invalid data", async () => {
  const body = enc("x".repeat(700));
  const ok = concat([
    ...paxHeader("18 path=real/name\n12 size=700\n"),
    tarHeader("short", 5),
    body,
    new Uint8Array(-700 & 511),
    new Uint8Array(1024),
  ]);
  assert.deepEqual(await list(ok), [["real/name", "x".repeat(700)]]);
  for (const bad of ["17 path=real/name", "99 path=x\n", "11 size=-1\n", "7 =abc\n"]) {
    const t = concat([...paxHeader(bad), tarHeader("a", 0), new Uint8Array(1024)]);
    await assert.rejects(list(t), InvalidDataError, bad);
  }
  const traversal = concat([...paxHeader("18 path=../../x/y\n"), tarHeader("a", 0), new Uint8Array(1024)]);
  await assert.rejects(list(traversal), /path traversal/);
});

test("a header whose checksum does not hold, or a size that is not a number, is invalid data", async () => {
  const h = tarHeader("a", 1);
  h[0] = 0x62; // the name changes, the checksum does not
  await assert.rejects(list(concat([h, new Uint8Array(512), new Uint8Array(1024)])), /checksum/);
  const s = tarHeader("a", 0);
  s.set(enc("0000000009x"), 124);
  // Re-sum the header so that only the size is wrong.
  s.fill(0x20, 148, 156);
  const sum = s.reduce((n, b) => n + b, 0);
  s.set(enc(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  await assert.rejects(list(concat([s, new Uint8Array(1024)])), /size field is not a number/);
});

test("the end: two zero blocks, then zeros only; one zero block or none is a truncated archive", async () => {
  const member = tarOf([["a", enc("A")]]).subarray(0, 1024);
  await assert.rejects(list(member), /without its end blocks/);
  await assert.rejects(list(concat([member, new Uint8Array(512)])), TruncatedInputError);
  assert.equal((await list(concat([member, new Uint8Array(1024 + 9216)]))).length, 1);
  const trailing = concat([member, new Uint8Array(1024), enc("garbage")]);
  await assert.rejects(list(trailing), /data after the end/);
  const loneZero = concat([new Uint8Array(512), member, new Uint8Array(1024)]);
  await assert.rejects(list(loneZero), /zero block in the middle/);
});

test("extended headers are capped: their size, and how many come in a row", async () => {
  const huge = concat([tarHeader("L", 1n << 30n, "L"), new Uint8Array(1024)]);
  await assert.rejects(list(huge), /extended header of \d+ bytes/);
  const many: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) many.push(...paxHeader("10 a=bcde\n"));
  await assert.rejects(list(concat([...many, tarHeader("a", 0), new Uint8Array(1024)])), /in a row/);
});
