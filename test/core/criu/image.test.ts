import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { decodePagemap } from "../../../src/core/criu/decode.ts";
import { pstree_entrySchema } from "../../../src/core/criu/gen/pstree_pb.ts";
import { decodeImage, imageSchemas, SUPPORTED_IMAGE_TYPES } from "../../../src/core/criu/handlers.ts";
import {
  IMAGE_MAGICS,
  IMG_COMMON_MAGIC,
  INVENTORY_MAGIC,
  looksLikeCriuImage,
  MAX_ENTRY_SIZE,
  parseImage,
} from "../../../src/core/criu/image.ts";
import { InvalidDataError, TruncatedInputError, UsageError } from "../../../src/core/errors.ts";
import { needs } from "../../helpers/shared.ts";
import { CRIU_DIR } from "./fixtures.ts";

function image(typeMagic: number | undefined, payloads: Uint8Array[]): Uint8Array {
  const head = typeMagic === undefined ? [INVENTORY_MAGIC] : [IMG_COMMON_MAGIC, typeMagic];
  const size = head.length * 4 + payloads.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const m of head) {
    dv.setUint32(off, m, true);
    off += 4;
  }
  for (const p of payloads) {
    dv.setUint32(off, p.length, true);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

const pstree = (pid: number) =>
  toBinary(
    pstree_entrySchema,
    create(pstree_entrySchema, { pid, ppid: 0, pgid: pid, sid: pid, threads: [pid, pid + 1] }),
  );

describe("CRIU image framing", () => {
  test("splits length-prefixed entries after the two magics", async () => {
    const img = parseImage(image(IMAGE_MAGICS.PSTREE, [pstree(10), pstree(20)]));
    assert.equal(img.magic, "PSTREE");
    assert.equal(img.headMagic, IMG_COMMON_MAGIC);
    assert.deepEqual(
      img.entries.map((e) => e.offset),
      [12, 12 + pstree(10).length + 4],
    );
    const dec = await decodeImage(image(IMAGE_MAGICS.PSTREE, [pstree(10), pstree(20)]));
    assert.deepEqual(
      dec.entries.map((e) => (e.message as unknown as { pid: number }).pid),
      [10, 20],
    );
  });

  test("inventory has a single magic", () => {
    const img = parseImage(image(undefined, []));
    assert.equal(img.magic, "INVENTORY");
    assert.equal(img.bodyOffset, 4);
  });

  test("an entry size running past the end is a TruncatedInputError with offset and path", () => {
    const bytes = image(IMAGE_MAGICS.PSTREE, [pstree(10)]);
    const cut = bytes.subarray(0, bytes.length - 3);
    assert.throws(
      () => parseImage(cut, "pstree.img"),
      (e: unknown) =>
        e instanceof TruncatedInputError &&
        e.offset === 12 &&
        e.path === "entries/0" &&
        e.input === "pstree.img",
    );
    // Cut inside the size field itself.
    assert.throws(
      () => parseImage(bytes.subarray(0, 10)),
      (e: unknown) => e instanceof TruncatedInputError && e.path === "entries/0/size" && e.offset === 8,
    );
    assert.throws(() => parseImage(bytes.subarray(0, 6)), TruncatedInputError);
    assert.throws(() => parseImage(new Uint8Array(0)), TruncatedInputError);
  });

  test("a huge size is refused before anything is allocated", () => {
    const bytes = image(IMAGE_MAGICS.PSTREE, [pstree(10)]);
    new DataView(bytes.buffer).setUint32(8, 0xfffffff0, true);
    assert.throws(
      () => parseImage(bytes),
      (e: unknown) => e instanceof InvalidDataError && /limit/.test(e.message) && e.path === "entries/0/size",
    );
    new DataView(bytes.buffer).setUint32(8, MAX_ENTRY_SIZE, true);
    assert.throws(() => parseImage(bytes), TruncatedInputError);
  });

  test("unknown magics are named in the error", () => {
    const junk = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    assert.throws(
      () => parseImage(junk),
      (e: unknown) => e instanceof InvalidDataError && e.message.includes("0xefbeadde") && e.offset === 0,
    );
    assert.throws(
      () => parseImage(image(0x12345678, [])),
      (e: unknown) => e instanceof InvalidDataError && e.message.includes("0x12345678") && e.offset === 4,
    );
    assert.equal(looksLikeCriuImage(junk), false);
    assert.equal(looksLikeCriuImage(image(IMAGE_MAGICS.CPUINFO, []), IMAGE_MAGICS.CPUINFO), true);
    assert.equal(looksLikeCriuImage(image(IMAGE_MAGICS.CORE, []), IMAGE_MAGICS.CPUINFO), false);
  });

  test("garbage payloads and missing required fields are InvalidDataError at the entry", async () => {
    const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    await assert.rejects(
      decodeImage(image(IMAGE_MAGICS.PSTREE, [garbage]), "x.img"),
      (e: unknown) => e instanceof InvalidDataError && e.path === "entries/0" && e.offset === 12,
    );
    // pid only: ppid, pgid, sid are required.
    const partial = new Uint8Array([0x08, 0x05]);
    await assert.rejects(
      decodeImage(image(IMAGE_MAGICS.PSTREE, [partial])),
      (e: unknown) => e instanceof InvalidDataError && e.path === "entries/0/ppid",
    );
    // A length-delimited field claiming more bytes than the payload has.
    const overlong = new Uint8Array([0x2a, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
    await assert.rejects(decodeImage(image(IMAGE_MAGICS.PSTREE, [overlong])), InvalidDataError);
    // Deeply nested unknown groups do not overflow the stack uncaught.
    const deep = new Uint8Array(200000).fill(0x0b);
    await assert.rejects(decodeImage(image(IMAGE_MAGICS.PSTREE, [deep])), InvalidDataError);
  });

  test("every supported image type loads its schema on demand; others are a UsageError", async () => {
    assert.ok(SUPPORTED_IMAGE_TYPES.length >= 20);
    for (const t of SUPPORTED_IMAGE_TYPES) {
      const magic = IMAGE_MAGICS[t];
      assert.ok(magic !== undefined, t);
      const schemas = await imageSchemas(t);
      assert.ok(schemas, t);
      // The type's own message (…_entry), and for PAGEMAP its head first.
      assert.match(schemas.entry.typeName, /_entry$/, t);
      assert.equal(schemas.head?.typeName, t === "PAGEMAP" ? "pagemap_head" : undefined);
      const dec = await decodeImage(image(t === "INVENTORY" ? undefined : magic, []));
      assert.deepEqual(dec, { magic: t, entries: [] });
    }
    assert.equal((await imageSchemas("IDS"))?.entry.typeName, "task_kobj_ids_entry");
    assert.equal((await imageSchemas("STATS"))?.entry.typeName, "stats_entry");
    const unsupported = Object.keys(IMAGE_MAGICS).find((k) => !SUPPORTED_IMAGE_TYPES.includes(k));
    assert.ok(unsupported);
    assert.equal(imageSchemas(unsupported), undefined);
    assert.equal(imageSchemas("__proto__"), undefined);
    await assert.rejects(
      decodeImage(image(IMAGE_MAGICS[unsupported]!, []), "x.img"),
      (e: unknown) => e instanceof UsageError && e.message.includes(`${unsupported} images are not decoded`),
    );
  });

  test("an empty pagemap (no head) is refused", () => {
    assert.throws(() => decodePagemap(image(IMAGE_MAGICS.PAGEMAP, [])), InvalidDataError);
  });

  test(
    "fixture images: every protobuf image frames and decodes; pages files are not images",
    needs(CRIU_DIR, "CRIU fixtures"),
    () => {
      const dir = join(CRIU_DIR, "S2");
      const core = readFileSync(join(dir, "inventory.img"));
      assert.equal(parseImage(core).magic, "INVENTORY");
      assert.throws(
        () => parseImage(readFileSync(join(dir, "pages-1.img")).subarray(0, 64)),
        InvalidDataError,
      );
    },
  );
});
