/**
 * Process memory from mm + pagemap + pages: every live frame of the ground truth is readable at its
 * address with the same FNV-1a-64; streaming, gaps, in_parent/lazy reporting and hostile pagemaps.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { mm_entrySchema } from "../../../src/core/criu/gen/mm_pb.ts";
import { pagemap_entrySchema } from "../../../src/core/criu/gen/pagemap_pb.ts";
import { vma_entrySchema } from "../../../src/core/criu/gen/vma_pb.ts";
import { CriuMemory, PE_LAZY, PE_PARENT, PE_PRESENT } from "../../../src/core/criu/memory.ts";
import { InvalidDataError, TruncatedInputError } from "../../../src/core/errors.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { openCheckpoint } from "../../../src/node/criu-dir.ts";
import { needs } from "../../helpers/shared.ts";
import { CRIU_DIR, fnv1a64, SCENARIOS, truth } from "./fixtures.ts";

const P = 4096n;

function mm(vmas: [bigint, bigint][]) {
  return create(mm_entrySchema, {
    vmas: vmas.map(([start, end]) =>
      create(vma_entrySchema, { start, end, prot: 3, flags: 0x22, status: 0x201, fd: -1n }),
    ),
  });
}

function pm(list: { vaddr: bigint; n: number; flags?: number; inParent?: boolean; compat?: boolean }[]) {
  return list.map((e, i) => {
    const init: Record<string, unknown> = { vaddr: e.vaddr, compatNrPages: e.compat ? e.n : 0 };
    if (!e.compat) init.nrPages = BigInt(e.n);
    if (e.flags !== undefined) init.flags = e.flags;
    if (e.inParent !== undefined) init.inParent = e.inParent;
    return { entry: create(pagemap_entrySchema, init), offset: 100 + 10 * i };
  });
}

/** Pages whose every byte tells its page number: byte i of page p is (p * 7 + i) & 0xff. */
function pages(n: number): Uint8Array {
  const b = new Uint8Array(n * 4096);
  for (let p = 0; p < n; p++) for (let i = 0; i < 4096; i++) b[p * 4096 + i] = (p * 7 + i) & 0xff;
  return b;
}

describe("CRIU memory (synthetic)", () => {
  const base = 0x10000n;
  // Runs: [base, +2 pages) present, [base+2P, +1) parent, [base+3P, +1) present (contiguous with
  // nothing), [base+5P, +1) lazy, [base+6P, +2) present (old-style compat count).
  const entries = pm([
    { vaddr: base, n: 2, flags: PE_PRESENT },
    { vaddr: base + 2n * P, n: 1, flags: PE_PARENT },
    { vaddr: base + 3n * P, n: 1, flags: PE_PRESENT | PE_LAZY },
    { vaddr: base + 5n * P, n: 1, flags: PE_LAZY },
    { vaddr: base + 6n * P, n: 2, compat: true, inParent: false },
  ]);
  const file = pages(5);
  const mem = new CriuMemory(mm([[base, base + 8n * P]]), entries, bytesSource(file));

  test("read maps addresses to pages-file offsets in pagemap order", () => {
    assert.deepEqual(mem.read(base + 10n, 4), file.subarray(10, 14));
    // Across the two pages of the first run.
    assert.deepEqual(mem.read(base + P - 2n, 4), file.subarray(4094, 4098));
    // The fourth run (old compat count) starts at file page 3.
    assert.deepEqual(mem.read(base + 7n * P, 16), file.subarray(4 * 4096, 4 * 4096 + 16));
    // Runs 3 and 5 are adjacent in the address space? No: base+3P..4P then a hole.
    assert.equal(mem.read(base + 4n * P - 2n, 4), undefined);
    // Parent and lazy pages are not guessed.
    assert.equal(mem.read(base + 2n * P, 1), undefined);
    assert.equal(mem.read(base + 5n * P, 1), undefined);
    assert.equal(mem.read(0n, 1), undefined);
    assert.equal(mem.presentBytes(), 5 * 4096);
  });

  test("missing() lists in_parent and lazy runs", () => {
    assert.deepEqual(mem.missing(), [
      { start: base + 2n * P, end: base + 3n * P, why: "in_parent" },
      { start: base + 5n * P, end: base + 6n * P, why: "lazy" },
    ]);
    const old = new CriuMemory(
      mm([]),
      pm([{ vaddr: base, n: 1, compat: true, inParent: true }]),
      bytesSource(new Uint8Array(0)),
    );
    assert.deepEqual(old.missing(), [{ start: base, end: base + P, why: "in_parent" }]);
  });

  test("chunks stream every present byte once, with the overlap carried inside a contiguous span", () => {
    for (const [max, overlap] of [
      [1000, 0],
      [4096, 16],
      [3000, 7],
      [1 << 20, 64],
    ] as const) {
      const seen = new Map<bigint, number>();
      let biggest = 0;
      let prevEnd = -1n;
      for (const c of mem.chunks(max, overlap)) {
        biggest = Math.max(biggest, c.bytes.length);
        const fresh = c.addr < prevEnd ? Number(prevEnd - c.addr) : 0;
        if (fresh > 0) assert.ok(fresh <= overlap, "overlap bounded");
        assert.deepEqual(c.bytes, mem.read(c.addr, c.bytes.length));
        for (let i = fresh; i < c.bytes.length; i++)
          seen.set(c.addr + BigInt(i), (seen.get(c.addr + BigInt(i)) ?? 0) + 1);
        prevEnd = c.addr + BigInt(c.bytes.length);
      }
      assert.equal(seen.size, 5 * 4096, `max ${max}`);
      assert.ok([...seen.values()].every((v) => v === 1));
      assert.ok(biggest <= max + overlap);
    }
  });

  test("regions are the VMAs", () => {
    assert.deepEqual(mem.regions(), [{ start: base, end: base + 8n * P, perm: "rw-" }]);
  });

  test("hostile pagemaps", () => {
    // Pages file shorter than the pagemap says.
    assert.throws(
      () =>
        new CriuMemory(
          mm([]),
          pm([{ vaddr: base, n: 3, flags: PE_PRESENT }]),
          bytesSource(new Uint8Array(8192)),
        ),
      TruncatedInputError,
    );
    // Unaligned, zero-length, absurd and overlapping runs.
    assert.throws(
      () => new CriuMemory(mm([]), pm([{ vaddr: base + 1n, n: 1, flags: PE_PRESENT }]), bytesSource(file)),
      InvalidDataError,
    );
    assert.throws(
      () => new CriuMemory(mm([]), pm([{ vaddr: base, n: 0, flags: PE_PRESENT }]), bytesSource(file)),
      InvalidDataError,
    );
    assert.throws(
      () => new CriuMemory(mm([]), pm([{ vaddr: base, n: 2 ** 40, flags: PE_PARENT }]), bytesSource(file)),
      InvalidDataError,
    );
    assert.throws(
      () =>
        new CriuMemory(
          mm([]),
          pm([
            { vaddr: base, n: 2, flags: PE_PRESENT },
            { vaddr: base + P, n: 1, flags: PE_PRESENT },
          ]),
          bytesSource(file),
        ),
      InvalidDataError,
    );
  });
});

describe("CRIU checkpoints vs ground truth", needs(CRIU_DIR, "CRIU fixtures"), () => {
  for (const s of SCENARIOS) {
    test(`${s}: live frames readable, byte-identical (FNV-1a-64)`, () => {
      const t = truth(s);
      const cp = openCheckpoint(join(CRIU_DIR, s));
      try {
        assert.equal(cp.processes.length, 1);
        const p = cp.processes[0]!;
        assert.equal(p.pid, t.pid);
        assert.deepEqual(
          p.threads.map((x) => x.tid),
          t.tids,
        );
        assert.deepEqual(p.memory.missing(), []);
        let frames = 0;
        for (const th of t.threads) {
          for (const f of th.frames) {
            const bytes = p.memory.read(BigInt(f.frame_addr), f.frame_len);
            assert.ok(bytes, `${s} frame at ${f.frame_addr} present`);
            assert.equal(fnv1a64(bytes), BigInt(f.frame_fnv1a64), `${s} frame ${f.frame_addr}`);
            frames++;
          }
          // The VMA holding the thread's sp is one of the regions.
          const sp = BigInt(th.sp_at_block);
          assert.ok(p.memory.regions().some((r) => r.start <= sp && sp < r.end));
        }
        assert.equal(frames, t.live_frame_count);
        // The stale S6 frame is in memory too.
        for (const f of t.stale_frames ?? []) {
          assert.equal(fnv1a64(p.memory.read(BigInt(f.frame_addr), f.frame_len)!), BigInt(f.frame_fnv1a64));
        }
        // The executable's VMAs are named from files.img; the stack from its status.
        assert.ok(p.memory.regions().some((r) => r.name === "[stack]"));
        assert.ok(p.memory.regions().some((r) => r.name?.endsWith(`/${t.program}`)));
        assert.equal(cp.cpu?.family, 26);
      } finally {
        cp.close();
      }
    });
  }

  test("a directory that is not a checkpoint, and a missing image", () => {
    assert.throws(() => openCheckpoint(join(CRIU_DIR, "S1", "logs")), InvalidDataError);
    assert.throws(() => openCheckpoint(join(CRIU_DIR, "nope")), /no such file/);
  });
});
