/**
 * The scan's hot path as work, not time: the magic1 search finds exactly what a byte-by-byte
 * search finds (Node's substring search and the browser's element search alike), and images are
 * read in large sequential pieces into one reused buffer: every present byte requested once (plus
 * the 3-byte overlaps), no allocating read per piece.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type PresentRun, SourceMemory } from "../../../src/core/memory.ts";
import { MAGIC1_ALIGN_REMAINDER } from "../../../src/core/scan/geometry.ts";
import { findMagic1, firstAligned } from "../../../src/core/scan/magic.ts";
import { RawMemory } from "../../../src/core/scan/raw.ts";
import { magic1Hits } from "../../../src/core/scan/scan.ts";
import { StreamScanner } from "../../../src/core/scan/stream.ts";
import { rawTarget, scanTarget } from "../../../src/core/scan/targets.ts";
import { type ByteSource, bytesSource } from "../../../src/core/source.ts";

const MAGIC1 = [0x53, 0x58, 0x50, 0x46];

/** Offsets i in [from, end - 4] where magic1 is, one byte at a time (the reference). */
function naive(b: Uint8Array, from: number, end: number, addr0: bigint, aligned: boolean): number[] {
  const out: number[] = [];
  for (let i = from; i + 4 <= Math.min(end, b.length); i++) {
    if (aligned && Number((addr0 + BigInt(i)) % 64n) !== MAGIC1_ALIGN_REMAINDER) continue;
    if (MAGIC1.every((m, k) => b[i + k] === m)) out.push(i);
  }
  return out;
}

/** Random bytes from a small alphabet (magic1's own bytes among them), with magic1 planted. */
const bytesWithMagic = fc
  .tuple(
    fc.uint8Array({ minLength: 0, maxLength: 600 }),
    fc.array(fc.nat(600), { maxLength: 12 }),
    fc.constantFrom(0x53, 0x58, 0x50, 0x46, 0x00),
  )
  .map(([raw, spots, alt]) => {
    const b = raw.map((x) => (x & 3 ? [0x53, 0x58, 0x50, 0x46][x & 3]! : alt));
    for (const s of spots) if (s + 4 <= b.length) b.set(MAGIC1, s);
    return b;
  });

describe("findMagic1", () => {
  test("finds exactly what a byte-by-byte search finds, at every alignment and at fpstate+464 only", () => {
    fc.assert(
      fc.property(
        bytesWithMagic,
        fc.nat(700),
        fc.nat(700),
        fc.bigInt(0n, (1n << 48n) - 1n),
        (b, x, y, addr) => {
          const from = Math.min(x, y);
          const end = Math.max(x, y);
          for (const search of [undefined, Buffer.prototype.indexOf] as const) {
            const all: number[] = [];
            findMagic1(b, from, end, all, undefined, search ?? undefined);
            assert.deepEqual(all, naive(b, from, end, addr, false));
          }
          const aligned: number[] = [];
          // Offset i holds address addr + i.
          findMagic1(b, from, end, aligned, firstAligned(from, addr + BigInt(from)));
          assert.deepEqual(aligned, naive(b, from, end, addr, true));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("the aligned search looks at one position in 64", () => {
    const b = new Uint8Array(64 * 1024);
    let reads = 0;
    const counted = new Proxy(b, {
      get(t, k) {
        if (typeof k === "string" && /^\d+$/.test(k)) reads++;
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    findMagic1(counted, 0, b.length, [], firstAligned(0, 0x7f0000000000n));
    assert.equal(reads, b.length / 64);
  });
});

/** A ByteSource that counts what is asked of it. */
function counting(src: ByteSource): ByteSource & { reads: number; views: number; viewBytes: number } {
  const c = {
    size: src.size,
    reads: 0,
    views: 0,
    viewBytes: 0,
    read(offset: number, length: number) {
      c.reads++;
      return src.read(offset, length);
    },
    readView(offset: number, length: number) {
      c.views++;
      c.viewBytes += length;
      return src.readView!(offset, length);
    },
  };
  return c;
}

describe("reading an image for a scan", () => {
  test("SourceMemory.chunks gives every present byte in address order, across runs and file offsets", () => {
    const runs = fc
      .array(fc.tuple(fc.integer({ min: 1, max: 9000 }), fc.boolean(), fc.boolean()), {
        minLength: 1,
        maxLength: 8,
      })
      .map((specs) => {
        // Consecutive runs may touch in the address space (one span) while lying apart in the file.
        const present: PresentRun[] = [];
        let addr = 0x7f0000001000n;
        let off = 0;
        for (const [len, gapInMemory, gapInFile] of specs) {
          present.push({ start: addr, end: addr + BigInt(len), fileOffset: off });
          addr += BigInt(len) + (gapInMemory ? 4096n : 0n);
          off += len + (gapInFile ? 100 : 0);
        }
        return { present, size: off };
      });
    fc.assert(
      fc.property(runs, fc.integer({ min: 1, max: 5000 }), fc.nat(3), ({ present, size }, piece, ov) => {
        const file = Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
        const src = counting(bytesSource(file));
        const mem = new SourceMemory(src, [], present);
        // Expected: each address's byte from its run.
        const want = new Map<bigint, number>();
        for (const r of present)
          for (let a = r.start; a < r.end; a++) want.set(a, file[r.fileOffset + Number(a - r.start)]!);
        const got = new Map<bigint, number>();
        let last = -1n;
        for (const c of mem.chunks(piece, ov)) {
          assert.ok(c.bytes.length <= piece + ov);
          assert.ok(c.addr >= last - BigInt(ov), "ascending");
          last = c.addr + BigInt(c.bytes.length);
          c.bytes.forEach((v, i) => {
            got.set(c.addr + BigInt(i), v);
          });
        }
        assert.deepEqual(got, want);
        assert.equal(src.reads, 0, "no allocating read");
        const presentBytes = present.reduce((n, r) => n + Number(r.end - r.start), 0);
        assert.ok(src.viewBytes <= presentBytes + ov * src.views, `${src.viewBytes} bytes asked for`);
      }),
      { numRuns: 200 },
    );
  });

  test("a raw image is scanned in 1 MiB sequential pieces: each byte read once, plus 3 per piece", () => {
    const size = 5 * 2 ** 20 + 12345;
    const bytes = new Uint8Array(size);
    for (const at of [16, 2 ** 20 - 2, 3 * 2 ** 20 + 80]) bytes.set(MAGIC1, at);
    const src = counting(bytesSource(bytes));
    const [p] = scanTarget(rawTarget(src, 0x7f0000000000n, "raw"), { all: true });
    assert.equal(p!.result.bytesScanned, size);
    assert.equal(p!.result.magic1Hits, 3, "the one straddling a piece boundary too");
    assert.equal(src.views, Math.ceil(size / 2 ** 20));
    assert.equal(src.viewBytes, size + 3 * (src.views - 1));
  });

  test("random access and a stream pushed in any chunking find the same magic1 dwords", () => {
    fc.assert(
      fc.property(
        bytesWithMagic,
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (b, cuts, all) => {
          const base = 0x7f0000000000n + 16n;
          const mem = new RawMemory(bytesSource(b), base);
          const want = [...magic1Hits(mem, { all, chunkSize: 4096 })];
          const s = new StreamScanner(
            mem.regions(),
            [{ start: base, end: base + BigInt(b.length), offset: 0 }],
            {
              all,
              regionsKnown: false,
            },
          );
          let at = 0;
          for (let k = 0; at < b.length; k++) {
            const n = cuts[k % cuts.length]!;
            s.push(b.subarray(at, at + n));
            at += n;
          }
          const { result } = s.end();
          assert.equal(result.magic1Hits, want.length);
        },
      ),
      { numRuns: 150 },
    );
  });
});
