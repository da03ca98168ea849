import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LIMITS, openCore, parseElfCore } from "../../../src/core/elf/index.ts";
import { InvalidDataError, TruncatedInputError } from "../../../src/core/errors.ts";
import { bytesSource } from "../../../src/core/source.ts";
import {
  buildCore,
  countingSource,
  layoutNote,
  NT_FILE,
  NT_PRSTATUS,
  NT_X86_XSAVE_LAYOUT,
  NT_X86_XSTATE,
  prstatus,
  xstate,
} from "./build.ts";

const base = () =>
  buildCore(
    [
      { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(100, 0x7000_0100n) },
      { owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(832, 0x7n) },
    ],
    [{ vaddr: 0x7000_0000n, data: new Uint8Array(4096).fill(0xab) }],
  );

function setU64(b: Uint8Array, off: number, v: bigint) {
  new DataView(b.buffer, b.byteOffset).setBigUint64(off, v, true);
}
function setU32(b: Uint8Array, off: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v, true);
}
function setU16(b: Uint8Array, off: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint16(off, v, true);
}

/** Parses with a counting source; asserts the error class, that it has an offset, and reads stayed small. */
function fails(bytes: Uint8Array, cls: typeof TruncatedInputError | typeof InvalidDataError, path?: RegExp) {
  const src = countingSource(bytes);
  let err: unknown;
  try {
    openCore(src);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
  const e = err as TruncatedInputError;
  assert.equal(typeof e.offset, "number", `offset in ${e.message}`);
  if (path) assert.match(e.path ?? "", path);
  assert.ok(src.maxRead <= bytes.length, `largest read ${src.maxRead}`);
  return e;
}

describe("hostile ELF cores", () => {
  test("the synthetic base core parses", () => {
    const c = openCore(bytesSource(base()));
    assert.equal(c.threads.length, 1);
    assert.equal(c.threads[0]!.tid, 100);
    assert.equal(c.memory.read(0x7000_0010n, 4)?.[0], 0xab);
    assert.equal(c.memory.regions()[0]!.name, "[stack]");
  });

  test("truncated ELF header", () => {
    for (const n of [0, 10, 17, 40, 63]) {
      const b = base().subarray(0, n);
      const e = fails(b, n < 4 ? TruncatedInputError : TruncatedInputError);
      assert.ok(e.offset! <= 64);
    }
  });

  test("not a core: bad magic, ELF32, big-endian, ET_EXEC, i386", () => {
    const cases: [number, number, RegExp][] = [
      [0, 0x7e, /e_ident/],
      [4, 1, /EI_CLASS/],
      [5, 2, /EI_DATA/],
      [16, 2, /e_type/],
      [18, 3, /e_machine/],
    ];
    for (const [off, v, path] of cases) {
      const b = base();
      b[off] = v;
      fails(b, InvalidDataError, path);
    }
  });

  test("program header table past the end", () => {
    const b = base();
    setU64(b, 32, BigInt(b.length - 20));
    const e = fails(b, TruncatedInputError, /phdrs/);
    assert.equal(e.offset, b.length - 20);
    const c = base();
    setU64(c, 32, 1n << 62n);
    fails(c, TruncatedInputError, /e_phoff/);
  });

  test("huge program header counts fail before anything is read", () => {
    const b = base();
    setU16(b, 56, 0xfff0);
    fails(b, TruncatedInputError, /phdrs/);
    // PN_XNUM with a count of 2^32-1 in section header 0.
    const c = new Uint8Array(base().length + 64);
    c.set(base());
    setU16(c, 56, 0xffff);
    setU64(c, 40, BigInt(c.length - 64));
    setU32(c, c.length - 64 + 44, 0xffffffff);
    const e = fails(c, InvalidDataError, /e_phnum/);
    assert.match(e.message, new RegExp(String(LIMITS.maxProgramHeaders)));
    // A tiny e_phentsize.
    const d = base();
    setU16(d, 54, 8);
    fails(d, InvalidDataError, /e_phentsize/);
  });

  test("note segment past the end or absurdly large", () => {
    const b = base();
    setU64(b, 64 + 8, BigInt(b.length - 8)); // p_offset of PT_NOTE
    fails(b, TruncatedInputError, /notes/);
    const c = base();
    setU64(c, 64 + 32, 1n << 40n); // p_filesz
    fails(c, InvalidDataError, /p_filesz/);
    const d = base();
    setU64(d, 64 + 32, 1n << 60n);
    fails(d, TruncatedInputError, /p_filesz/);
  });

  test("note name and descriptor sizes past the segment", () => {
    const noteOff = 64 + 56 * 2;
    const b = base();
    setU32(b, noteOff + 4, 0x7fffffff); // n_descsz of the first note
    const e = fails(b, TruncatedInputError, /notes\[0\]\/n_descsz/);
    assert.equal(e.offset, noteOff + 4);
    const c = base();
    setU32(c, noteOff, 0xfffffff0); // n_namesz
    fails(c, TruncatedInputError, /notes\[0\]\/n_namesz/);
  });

  test("short or oversized note descriptors", () => {
    const short = buildCore([{ owner: "CORE", type: NT_PRSTATUS, desc: new Uint8Array(100) }]);
    fails(short, TruncatedInputError, /NT_PRSTATUS/);
    const xs = buildCore([
      { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(1, 0n) },
      { owner: "LINUX", type: NT_X86_XSTATE, desc: new Uint8Array(300) },
    ]);
    fails(xs, TruncatedInputError, /NT_X86_XSTATE/);
    const lay = buildCore([{ owner: "LINUX", type: NT_X86_XSAVE_LAYOUT, desc: new Uint8Array(20) }]);
    fails(lay, InvalidDataError, /NT_X86_XSAVE_LAYOUT/);
    const far = buildCore([
      { owner: "LINUX", type: NT_X86_XSAVE_LAYOUT, desc: layoutNote([[2, 256, 0x7fffffff]]) },
    ]);
    fails(far, InvalidDataError, /offset/);
  });

  test("NT_FILE with a huge count does not allocate for it", () => {
    const d = new Uint8Array(64);
    setU64(d, 0, 1n << 60n);
    setU64(d, 8, 4096n);
    const b = buildCore([{ owner: "CORE", type: NT_FILE, desc: d }]);
    fails(b, TruncatedInputError, /NT_FILE\/count/);
  });

  test("PT_LOAD: p_filesz > p_memsz and address wrap are invalid", () => {
    const ph1 = 64 + 56;
    const b = base();
    setU64(b, ph1 + 40, 16n); // memsz < filesz
    fails(b, InvalidDataError, /p_filesz/);
    const c = base();
    setU64(c, ph1 + 16, 0xffff_ffff_ffff_f000n);
    setU64(c, ph1 + 40, 0x2000n);
    fails(c, InvalidDataError, /p_memsz/);
  });

  test("a truncated core keeps what is there and reports the rest as missing", () => {
    const full = base();
    const cut = full.subarray(0, full.length - 1024);
    const c = openCore(bytesSource(cut));
    assert.equal(c.core.warnings.length, 1);
    assert.match(c.core.warnings[0]!, /truncated/);
    assert.equal(c.memory.read(0x7000_0000n, 3072)?.length, 3072);
    assert.equal(c.memory.read(0x7000_0000n, 3073), undefined);
    const gaps = c.memory.missing!();
    assert.deepEqual(
      gaps.map((g) => [g.start, g.end]),
      [[0x7000_0c00n, 0x7000_1000n]],
    );
    assert.match(gaps[0]!.why, /truncated/);
  });

  test("reads across adjacent segments and chunks with overlap", () => {
    const a = new Uint8Array(4096).map((_, i) => i & 0xff);
    const b2 = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const core = buildCore(
      [{ owner: "CORE", type: NT_PRSTATUS, desc: prstatus(1, 0x9000n) }],
      [
        { vaddr: 0x1000n, data: a },
        { vaddr: 0x2000n, data: b2, memsz: 0x2000n },
        { vaddr: 0x8000n, data: new Uint8Array(4096).fill(1), flags: 5 },
      ],
    );
    const c = openCore(bytesSource(core));
    const across = c.memory.read(0x1ff0n, 32)!;
    assert.deepEqual([...across.subarray(0, 16)], [...a.subarray(4080)]);
    assert.deepEqual([...across.subarray(16)], [...b2.subarray(0, 16)]);
    assert.equal(c.memory.read(0x2ff0n, 32), undefined, "tail past p_filesz is not present");
    assert.equal(c.memory.regions()[2]!.perm, "r-x");
    const chunks = [...c.memory.chunks(1000, 10)];
    // Runs: [0x1000,0x3000) and [0x8000,0x9000).
    assert.equal(chunks[0]!.addr, 0x1000n);
    assert.ok(chunks.every((ch) => ch.bytes.length <= 1010));
    const firstOfSecondRun = chunks.find((ch) => ch.addr >= 0x8000n)!;
    assert.equal(firstOfSecondRun.addr, 0x8000n, "no overlap carried across a gap");
    for (const ch of chunks) assert.deepEqual(ch.bytes, c.memory.read(ch.addr, ch.bytes.length));
    assert.deepEqual(c.memory.read(0x1000n, 0)?.length, 0);
  });

  test("notes before any NT_PRSTATUS are reported, not attached", () => {
    const b = buildCore([{ owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(832, 7n) }]);
    const c = parseElfCore(bytesSource(b));
    assert.equal(c.threads.length, 0);
    assert.match(c.warnings.join(), /before any NT_PRSTATUS/);
  });
});
