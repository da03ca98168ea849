/**
 * The scanner's rules on synthetic images built from real frame bytes (the fixtures' truth holds
 * each frame's bytes): placement geometry, chunk boundaries, liveness against a given sp, nesting,
 * and hostile input.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { hexToBytes } from "../../../src/core/hex.ts";
import type { MemoryChunk, MemoryImage } from "../../../src/core/memory.ts";
import { examine } from "../../../src/core/scan/candidate.ts";
import {
  alignSigframe,
  FP,
  FRAME,
  fpstateForAltstack,
  fpstateForInterruptedRsp,
  frameForFpstate,
  RT_SIGFRAME_SIZE,
} from "../../../src/core/scan/geometry.ts";
import { RawMemory } from "../../../src/core/scan/raw.ts";
import { magic1Hits, scanMemory } from "../../../src/core/scan/scan.ts";
import { rawTarget, scanTarget } from "../../../src/core/scan/targets.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { FIXTURES, needs } from "../../helpers/shared.ts";

// biome-ignore lint/suspicious/noExplicitAny: truth files are plain JSON
type Truth = any;
const truth = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
const fixtures = needs(FIXTURES, "signal-frame fixtures");
const big = (s: string) => BigInt(s);

/** A buffer of `size` bytes at `base` (filled with `fill`) with each frame's bytes at its address. */
function image(base: bigint, size: number, frames: Truth[], fill = 0): Uint8Array {
  const b = new Uint8Array(size).fill(fill);
  for (const f of frames) b.set(hexToBytes(f.frame_bytes_hex), Number(big(f.frame_addr) - base));
  return b;
}

/** A MemoryImage over bytes whose chunks are cut at a chosen size (to put boundaries anywhere). */
function choppy(bytes: Uint8Array, base: bigint, cut: number): MemoryImage {
  const raw = new RawMemory(bytesSource(bytes), base);
  return {
    regions: () => raw.regions(),
    read: (a, n) => raw.read(a, n),
    *chunks(_max: number, overlap: number): Iterable<MemoryChunk> {
      yield* raw.chunks(cut, overlap);
    },
  };
}

describe("geometry", fixtures, () => {
  test("every real frame sits where get_sigframe() puts it", () => {
    let n = 0;
    for (const S of ["S2", "S3", "S4", "S5", "S6", "S7"]) {
      const tr = truth(S);
      const frames = [...tr.threads.flatMap((t: Truth) => t.frames), ...(tr.stale_frames ?? [])];
      for (const f of frames) {
        const fp = big(f.fpstate);
        assert.equal(frameForFpstate(fp), big(f.frame_addr), `${S} ${f.uc}`);
        assert.equal(big(f.uc) - big(f.frame_addr), BigInt(FRAME.uc));
        const ext = f.sw_bytes.extended_size;
        const expected = f.on_altstack
          ? fpstateForAltstack(big(f.uc_stack.ss_sp), BigInt(f.uc_stack.ss_size), ext)
          : fpstateForInterruptedRsp(big(f.interrupted_rsp), ext);
        assert.equal(expected, fp, `${S} ${f.uc}`);
        n++;
      }
    }
    assert.equal(n, 7);
  });

  test("the frame-to-fpstate gap is computed, not fixed", () => {
    // 64-aligned fpstates give a 456-byte gap to the frame; other alignments give what the rounding gives.
    assert.equal(0x10000n - frameForFpstate(0x10000n), 456n);
    assert.equal(frameForFpstate(0x10008n), alignSigframe(0x10008n - BigInt(RT_SIGFRAME_SIZE)));
    assert.equal((frameForFpstate(0x10008n) + 8n) % 16n, 0n);
  });
});

describe("liveness on a raw image", fixtures, () => {
  const s3 = truth("S3");
  const t = s3.threads[0];
  const base = big(t.sp_vma.lo);
  const size = Number(big(t.sp_vma.hi) - base);
  const bytes = image(base, size, t.frames);

  test("without a stack pointer: found, consistent, but low", () => {
    const [p] = scanTarget(rawTarget(bytesSource(bytes), base, "s3.raw"));
    const fr = p!.result.frames;
    assert.equal(fr.length, 2);
    for (const f of fr) {
      assert.equal(f.confidence, "low");
      assert.deepEqual(f.problems, []);
      assert.match(f.reasons.join(), /no thread registers/);
    }
  });

  test("with the thread's sp: both frames high, chained outermost first", () => {
    const [p] = scanTarget(rawTarget(bytesSource(bytes), base, "s3.raw", { sp: big(t.sp_at_block) }));
    const th = p!.result.threads[0]!;
    assert.deepEqual(
      th.frames.map((f) => [f.depth, f.signal, f.ucontext, f.confidence]),
      t.frames.map((f: Truth) => [f.depth, f.signo, big(f.uc), "high"]),
    );
  });

  test("with an sp above the inner frame: the inner one is stale, the chain starts at the outer one", () => {
    const inner = t.frames[1];
    const sp = big(inner.frame_end) + 16n; // between the frames: the SIGUSR2 handler has returned
    const [p] = scanTarget(rawTarget(bytesSource(bytes), base, "s3.raw", { sp }));
    const fr = p!.result.frames;
    const outer = fr.find((f) => f.ucontext === big(t.frames[0].uc))!;
    const stale = fr.find((f) => f.ucontext === big(inner.uc))!;
    assert.equal(outer.confidence, "high");
    assert.equal(outer.depth, 1);
    assert.equal(stale.confidence, "low");
    assert.match(stale.reasons.join(), /below thread 1's stack pointer/);
  });

  test("with an sp above both: none is live", () => {
    const [p] = scanTarget(
      rawTarget(bytesSource(bytes), base, "s3.raw", { sp: big(t.frames[0].frame_end) + 8n }),
    );
    assert.ok(p!.result.frames.every((f) => f.confidence === "low"));
    assert.equal(p!.result.threads[0]!.frames.length, 0);
  });
});

describe("streaming", fixtures, () => {
  const s2 = truth("S2");
  const f = s2.threads[0].frames[0];
  const magic1 = big(f.magic1_addr);

  test("a magic1 that straddles any chunk boundary is found once", () => {
    // The image starts 8192 − k bytes before magic1: with 4096-byte chunks the dword is cut after k bytes.
    for (const k of [1, 2, 3]) {
      const b0 = magic1 - BigInt(8192 - k);
      const bytes = image(b0, 16384, [f]);
      for (const all of [false, true]) {
        const hits = [...magic1Hits(choppy(bytes, b0, 4096), { all, chunkSize: 4096 })];
        assert.deepEqual(hits, [magic1], `k=${k} all=${all}`);
        // Chunks that are not what we asked for (any size) give the same answer.
        for (const cut of [5, 63, 64, 100, 4093]) {
          const h2 = [...magic1Hits(choppy(bytes, b0, cut), { all })];
          assert.deepEqual(h2, [magic1], `cut=${cut} all=${all}`);
        }
      }
    }
  });

  test("memory stays bounded: 64 MiB of magic1 at every 64-byte slot is scanned chunk by chunk", () => {
    // A hostile image: every aligned slot holds magic1. Nothing is kept beyond caps; no frame is high.
    const size = 64 << 20;
    const src = {
      size,
      read(off: number, len: number) {
        const out = new Uint8Array(len);
        for (let a = off + ((16 - (off % 64) + 64) % 64); a + 4 <= off + len; a += 64) {
          out.set([0x53, 0x58, 0x50, 0x46], a - off);
        }
        return out;
      },
    };
    const before = process.memoryUsage().heapUsed;
    const r = scanMemory(new RawMemory(src, 0x10000000n), { regionsKnown: false, maxRejected: 100 });
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(r.magic1Hits, size / 64);
    assert.equal(r.framesTotal, 0);
    assert.equal(r.rejectedTotal, size / 64);
    assert.equal(r.rejected.length, 0, "rejections are only kept with all");
    assert.ok(grown < 48 << 20, `heap grew by ${grown} bytes`);
  });
});

describe("examine: each structural check rejects", fixtures, () => {
  const f = truth("S2").threads[0].frames[0];
  const frameAddr = big(f.frame_addr);
  const fp = big(f.fpstate);
  const base = frameAddr - 4096n;
  const fresh = () => image(base, 8192, [f]);
  const at = (b: Uint8Array, addr: bigint) =>
    new DataView(b.buffer).setUint32.bind(new DataView(b.buffer), Number(addr - base));
  const mem = (b: Uint8Array) => new RawMemory(bytesSource(b), base);

  test("the intact frame is a frame with no problems", () => {
    const e = examine(mem(fresh()), big(f.magic1_addr));
    assert.equal(e.kind, "frame");
    if (e.kind === "frame") assert.deepEqual(e.frame.problems, []);
  });

  const cases: [string, (b: Uint8Array) => void, string][] = [
    ["extended_size", (b) => at(b, fp + 468n)(2440, true), "sw-bytes"],
    ["xstate_size", (b) => at(b, fp + 480n)(400, true), "sw-bytes"],
    ["xfeatures without SSE", (b) => at(b, fp + 472n)(0xe5, true), "sw-bytes"],
    ["xfeatures with a supervisor bit", (b) => at(b, fp + 472n)(0x1e7, true), "sw-bytes"],
    ["sw padding", (b) => at(b, fp + 500n)(1, true), "sw-bytes"],
    ["magic2", (b) => at(b, fp + 2432n)(0x46505846, true), "no-magic2"],
    ["xcomp_bv", (b) => at(b, fp + 524n)(0x80000000, true), "xsave-header"],
    ["header reserved", (b) => at(b, fp + 540n)(1, true), "xsave-header"],
    ["xstate_bv beyond xfeatures", (b) => at(b, fp + 512n)(0x2e7, true), "xsave-header"],
    [
      "fpstate pointer",
      (b) => at(b, frameAddr + BigInt(FRAME.fpstatePtr))(Number(fp & 0xffffffffn) + 64, true),
      "no-ucontext",
    ],
  ];
  for (const [what, mutate, code] of cases) {
    test(what, () => {
      const b = fresh();
      mutate(b);
      const e = examine(mem(b), big(f.magic1_addr));
      assert.equal(e.kind, "rejected");
      if (e.kind === "rejected") assert.equal(e.rejected.code, code);
    });
  }

  const problems: [string, (b: Uint8Array) => void, RegExp][] = [
    [
      "saved rsp moved",
      (b) => at(b, frameAddr + 48n + 120n)(Number(big(f.interrupted_rsp) & 0xffffffffn) + 4096, true),
      /not where the kernel puts it/,
    ],
    [
      "cs",
      (b) => new DataView(b.buffer).setUint16(Number(frameAddr + 48n + 144n - base), 0x23, true),
      /cs 0x23/,
    ],
    [
      "ss",
      (b) => new DataView(b.buffer).setUint16(Number(frameAddr + 48n + 150n - base), 0x0, true),
      /ss 0x0/,
    ],
    ["eflags", (b) => at(b, frameAddr + 48n + 136n)(0x3202, true), /eflags/],
    ["uc_flags", (b) => at(b, frameAddr + 8n)(0x6, true), /uc_flags/],
  ];
  for (const [what, mutate, re] of problems) {
    test(`${what}: still a frame, with a problem that keeps it low`, () => {
      const b = fresh();
      mutate(b);
      const e = examine(mem(b), big(f.magic1_addr));
      assert.equal(e.kind, "frame");
      if (e.kind === "frame") assert.match(e.frame.problems.join(" | "), re);
      const [p] = scanTarget(rawTarget(bytesSource(b), base, "x", { sp: base }));
      assert.ok(p!.result.frames.every((x) => x.confidence === "low"));
    });
  }

  test("si_signo 0 (a handler without SA_SIGINFO: the kernel leaves siginfo unwritten): still live, signal unknown", () => {
    const b = fresh();
    at(b, frameAddr + 312n)(0, true);
    const e = examine(mem(b), big(f.magic1_addr));
    assert.equal(e.kind, "frame");
    if (e.kind === "frame") assert.doesNotMatch(e.frame.problems.join(" | "), /si_signo/);
    const [p] = scanTarget(rawTarget(bytesSource(b), base, "x", { sp: base }));
    const [x] = p!.result.frames;
    assert.equal(x?.signal, 0);
    assert.equal(x?.signalName, "unknown");
    assert.doesNotMatch(x!.reasons.join(" | "), /si_signo/);
  });

  test("any byte flipped in the checked fields never leaves a high frame with wrong fields", () => {
    const checked = [
      ...Array.from({ length: 48 }, (_, i) => fp + 464n + BigInt(i)),
      ...Array.from({ length: 4 }, (_, i) => fp + 2432n + BigInt(i)),
      ...Array.from({ length: 64 }, (_, i) => fp + 512n + BigInt(i)),
      ...Array.from({ length: 8 }, (_, i) => frameAddr + 232n + BigInt(i)),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...checked), fc.integer({ min: 1, max: 255 }), (addr, x) => {
        const b = fresh();
        b[Number(addr - base)]! ^= x;
        const [p] = scanTarget(rawTarget(bytesSource(b), base, "x", { sp: base }));
        const high = p!.result.frames.filter((fr) => fr.confidence === "high");
        // xstate_bv bits (FP..YMM of xfeatures) may legitimately change; everything else must not pass.
        for (const h of high) {
          assert.equal(h.fpstate, fp);
          assert.equal(h.sw.xstateSize, 2432);
          assert.equal(h.sw.extendedSize, 2436);
          assert.ok(addr >= fp + 512n && addr < fp + 520n, `flip at fpstate+${addr - fp} left a high frame`);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("random bytes with planted magic1 never crash and never give a high frame", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4096, maxLength: 16384 }),
        fc.array(fc.nat(16380), { maxLength: 50 }),
        (b, spots) => {
          for (const s of spots) b.set([0x53, 0x58, 0x50, 0x46], Math.min(s, b.length - 4));
          for (const all of [false, true]) {
            const [p] = scanTarget(rawTarget(bytesSource(b), 0x7f0000000000n, "x", { sp: 0x7f0000000000n }), {
              all,
            });
            assert.ok(p!.result.frames.every((f) => f.confidence === "low"));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

test("FP offsets agree with the kernel's structures", () => {
  assert.equal(FP.magic1, 464);
  assert.equal(FRAME.fpstatePtr, 8 + 40 + 184);
  assert.equal(FRAME.siginfo, 312);
});
