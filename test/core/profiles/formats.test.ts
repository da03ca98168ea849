/** One table of binary input formats, recognised from the first bytes. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../../../src/core/criu/image.ts";
import { detectFormat, HEAD_BYTES, INPUT_FORMATS } from "../../../src/core/profiles/formats.ts";
import { buildCore, prstatus, xstate } from "../elf/build.ts";

function criuHead(typeMagic: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, IMG_COMMON_MAGIC, true);
  dv.setUint32(4, typeMagic, true);
  return b;
}

test("every format is told from its head, most specific first", () => {
  const core = buildCore([
    { owner: "CORE", type: 1, desc: prstatus(1, 0x7000n) },
    { owner: "LINUX", type: 0x202, desc: xstate(832, 0x7n) },
  ]);
  assert.equal(detectFormat(core.subarray(0, HEAD_BYTES))?.id, "elf-core");
  const exe = core.slice(0, HEAD_BYTES);
  exe[16] = 2; // ET_EXEC
  assert.equal(detectFormat(exe)?.id, "elf");
  assert.equal(detectFormat(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]))?.id, "elf");
  assert.equal(detectFormat(criuHead(IMAGE_MAGICS.CPUINFO!))?.id, "criu-cpuinfo");
  // Another CRIU image, text and nothing at all are not formats of the table.
  assert.equal(detectFormat(criuHead(IMAGE_MAGICS.CORE!)), undefined);
  assert.equal(detectFormat(new TextEncoder().encode("CPU 0:\n   0x00000000 0x00: eax=0x10")), undefined);
  assert.equal(detectFormat(new Uint8Array(0)), undefined);
  assert.deepEqual(
    INPUT_FORMATS.map((f) => f.id),
    [...new Set(INPUT_FORMATS.map((f) => f.id))],
    "ids are unique",
  );
});
