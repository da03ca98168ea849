/**
 * The ia32 frames: rt_sigframe_ia32 and sigframe_ia32 decode and encode as exact inverses, the
 * kernel-style builder writes what ia32_setup_rt_frame() + copy_fpstate_to_sigframe() write, and
 * the FSAVE header conversions match the kernel's.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InvalidDataError, TruncatedInputError } from "../../../src/core/errors.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { ia32FpstateSpans, ia32FrameSpans } from "../../../src/core/sigframe/annotate.ts";
import { checkIa32Fpstate, checkIa32Frame } from "../../../src/core/sigframe/check.ts";
import { IA32_RT_RETCODE, SIGCONTEXT_32_FIELDS } from "../../../src/core/sigframe/fields.ts";
import {
  decodeIa32Fpstate,
  decodeIa32SigframeImage,
  encodeIa32Fpstate,
  encodeIa32SigframeImage,
  type Ia32FrameKind,
  ia32SigcontextOffset,
} from "../../../src/core/sigframe/ia32.ts";
import {
  abridgedTagWord,
  buildIa32Frame,
  fsaveHeaderFrom,
  fullTagWord,
  x87FromFsave,
} from "../../../src/core/sigframe/ia32-build.ts";
import { detectIa32FrameFormat } from "../../../src/core/sigframe/input.ts";
import { emptyState, setRegister } from "../../../src/core/sigframe/state.ts";
import { FP_XSTATE_MAGIC1 } from "../../../src/core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";

const layouts: [string, XsaveLayout][] = BUILTIN_PROFILES.map((b) => [b.name, computeLayout(b.build())]);
const icelake = layouts.find(([n]) => n === "intel-icelake-server")![1];

function ia32Bytes(kind: Ia32FrameKind, l: XsaveLayout) {
  const fpOff = kind === "rt" ? 276 : 740;
  return fc
    .tuple(
      fc.uint8Array({ minLength: fpOff + 112 + 576, maxLength: fpOff + 112 + l.userSize + 100 }),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([b, point, magic]) => {
      const dv = new DataView(b.buffer);
      if (point) dv.setUint32(ia32SigcontextOffset(kind) + 76, fpOff, true);
      if (magic) {
        dv.setUint32(fpOff + 112 + 464, FP_XSTATE_MAGIC1, true);
        dv.setBigUint64(fpOff + 112 + 520, 0n, true);
      }
      return b;
    });
}

describe("ia32 frame codec", () => {
  for (const kind of ["rt", "sigframe"] as const) {
    for (const [name, l] of layouts) {
      test(`${kind}: bytes → decode → encode is the identity (${name})`, () => {
        fc.assert(
          fc.property(ia32Bytes(kind, l), (b) => {
            const img = decodeIa32SigframeImage(b, { kind, base: 0n, layout: l, strict: false });
            assert.deepEqual(encodeIa32SigframeImage(img), b);
            const dv = new DataView(b.buffer);
            const ptr = dv.getUint32(ia32SigcontextOffset(kind) + 76, true);
            assert.equal(img.frame.mcontext.fpstate, BigInt(ptr));
            assert.equal(img.fpstateOffset !== undefined, ptr + 112 <= b.length);
          }),
          { numRuns: 15 },
        );
      });
    }
  }

  test("FSAVE header + image alone round trip", () => {
    fc.assert(
      fc.property(ia32Bytes("rt", icelake), (b) => {
        const area = b.subarray(276);
        assert.deepEqual(
          encodeIa32Fpstate(decodeIa32Fpstate(area, { layout: icelake, strict: false })),
          area,
        );
      }),
      { numRuns: 30 },
    );
  });

  test("short frames and wide values are typed errors with paths", () => {
    assert.throws(
      () => decodeIa32SigframeImage(new Uint8Array(267)),
      (e: unknown) => e instanceof TruncatedInputError && e.path === "frame" && e.offset === 267,
    );
    assert.throws(
      () => decodeIa32SigframeImage(new Uint8Array(731), { kind: "sigframe" }),
      (e: unknown) => e instanceof TruncatedInputError && /sigframe_ia32 \(732 bytes\)/.test(e.message),
    );
    const st = emptyState();
    assert.throws(
      () => setRegister(st, "eip", 0x1_0000_0000n),
      (e: unknown) => e instanceof InvalidDataError && e.path === "eip",
    );
    // eflags is 64 bits wide in the state (the 64-bit frame's), 32 in the ia32 sigcontext.
    setRegister(st, "eflags", 0x1_0000_0000n);
    assert.throws(
      () => buildIa32Frame({ layout: icelake, state: st }),
      (e: unknown) => e instanceof InvalidDataError && e.path === "frame/uc/uc_mcontext/eflags",
    );
    // An image that announces more than the input holds names magic2.
    const b = buildIa32Frame({ layout: icelake, fpstateOnly: true }).bytes;
    assert.throws(
      () => decodeIa32Fpstate(b.subarray(0, 1000)),
      (e: unknown) => e instanceof TruncatedInputError && e.path === "fpstate/fxsave/magic2",
    );
  });
});

describe("ia32 frames as the kernel writes them", () => {
  for (const [name, l] of layouts) {
    test(`rt_sigframe_ia32 on ${name}`, () => {
      const st = emptyState();
      setRegister(st, "eip", 0x8049000n);
      setRegister(st, "esp", 0xffffd000n);
      setRegister(st, "si_signo", 10n);
      setRegister(st, "st0", 0x3fff8000000000000000n);
      setRegister(st, "ftw", 0x80n);
      setRegister(st, "fsw", 0x3800n);
      if (l.components.some((c) => c.bit === 2 && c.enabled)) setRegister(st, "ymm1", (1n << 255n) | 1n);
      const r = buildIa32Frame({ layout: l, state: st });
      const img = r.image!;
      // i386 ABI: at handler entry ((sp + 4) & 15) == 0; buf_fx 64-byte aligned.
      assert.equal((img.base + 4n) % 16n, 0n);
      assert.equal((img.frame.mcontext.fpstate + 112n) % 64n, 0n);
      assert.equal(r.fpstateOffset, 276);
      assert.equal(img.frame.pinfo, img.base + 16n);
      assert.equal(img.frame.puc, img.base + 144n);
      assert.equal(img.frame.retcode, IA32_RT_RETCODE);
      assert.deepEqual([...r.bytes.subarray(260, 268)], [0xb8, 0xad, 0, 0, 0, 0xcd, 0x80, 0]);
      assert.equal(img.frame.uc!.uc_flags, l.xsave ? 1n : 0n);
      assert.equal(img.frame.info!.si_signo, 10n);
      assert.equal(img.frame.sig, 10n);
      const fx = r.fpstate.fx!;
      assert.equal(fx.sw.extendedSize, (l.xsave ? l.userSize : 512) + 4 + 112);
      const back = decodeIa32SigframeImage(r.bytes, { layout: l });
      assert.equal(back.baseSource, l.xsave ? "inferred-magic" : "inferred-kernel");
      assert.equal(back.base, img.base);
      assert.deepEqual(encodeIa32SigframeImage(back), r.bytes);
      assert.deepEqual(back.frame.mcontext, img.frame.mcontext);
      assert.equal(back.fpstate!.fsave.twd, 0xffff3fffn); // physical reg 7 = ST0 valid, rest empty
      assert.equal(back.fpstate!.fsave.status, 0x3800n);
      assert.deepEqual(
        checkIa32Frame(back, { layout: l }).filter((f) => f.severity !== "info"),
        [],
        "a kernel-style frame has no warnings",
      );
      assert.equal(detectIa32FrameFormat(r.bytes), "ia32-frame");
      const spans = ia32FrameSpans(back);
      assert.ok(spans.some((s) => s.offset === 164 + 56 && s.path === "frame/uc/uc_mcontext/eip"));
      assert.ok(spans.some((s) => s.offset === 276 + 110 && s.path === "fpstate/fsave/magic"));
      assert.ok(
        spans.some((s) => s.offset === 276 + 112 + 464 && s.path === "fpstate/fxsave/sw_bytes/magic1"),
      );
    });
  }

  test("the non-rt sigframe_ia32: FSAVE header 740 bytes above the frame", () => {
    const st = emptyState();
    setRegister(st, "uc_sigmask", 0x1234_0000_0001n);
    const r = buildIa32Frame({ layout: icelake, state: st, kind: "sigframe" });
    assert.equal(r.fpstateOffset, 740);
    assert.equal((r.image!.base + 4n) % 16n, 0n);
    const back = decodeIa32SigframeImage(r.bytes, { kind: "sigframe", layout: icelake });
    assert.equal(back.frame.mcontext.oldmask, 1n);
    assert.equal(back.frame.extramask, 0x1234n);
    assert.deepEqual([...r.bytes.subarray(724, 732)], [0x58, 0xb8, 0x77, 0, 0, 0, 0xcd, 0x80]);
    assert.equal(detectIa32FrameFormat(r.bytes), "ia32-sigframe");
    assert.deepEqual(encodeIa32SigframeImage(back), r.bytes);
  });

  test("the area alone is detected by magic1 at 112 + 464", () => {
    const r = buildIa32Frame({ layout: icelake, fpstateOnly: true });
    assert.equal(detectIa32FrameFormat(r.bytes), "ia32-fpstate");
    const fp = decodeIa32Fpstate(r.bytes, { layout: icelake });
    assert.equal(checkIa32Fpstate(fp, { layout: icelake }).length, 0);
    assert.ok(
      ia32FpstateSpans(fp).some(
        (s) => s.offset === 112 + 512 && s.path === "fpstate/fxsave/header/xstate_bv",
      ),
    );
  });
});

describe("FSAVE header conversions (convert_from_fxsr / convert_to_fxsr)", () => {
  test("tag words: empty, valid, zero, special", () => {
    const legacy = buildIa32Frame({ layout: icelake, fpstateOnly: true }).fpstate.fx!.legacy;
    assert.equal(fullTagWord(legacy), 0xffffffffn); // all empty after FNINIT
    const l = { ...legacy, ftw: 0x0fn, fsw: 0n } as typeof legacy;
    const r = l as Record<string, bigint>;
    r.st0 = 0x3fff8000000000000000n; // valid
    r.st1 = 0n; // zero
    r.st2 = 0x7fff8000000000000000n; // infinity: special
    r.st3 = 0x40000000000000000001n; // unnormal: special
    assert.equal(fullTagWord(l), 0xffffff00n | (2n << 6n) | (2n << 4n) | (1n << 2n) | 0n);
    assert.equal(abridgedTagWord(fullTagWord(l)), 0x0fn);
  });

  test("fsave header → x87 gives the image's x87 back (FIP/FDP low 32 bits; FOP is not kept)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 0xffffn }),
        fc.bigInt({ min: 0n, max: 0xffn }),
        fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        (fcw, ftw, st5, fip) => {
          const legacy = buildIa32Frame({ layout: icelake, fpstateOnly: true }).fpstate.fx!.legacy;
          const l = { ...legacy, fcw, ftw, fip, st5 } as typeof legacy;
          const x = x87FromFsave(fsaveHeaderFrom(l));
          assert.equal(x.fcw, fcw);
          assert.equal(x.ftw, ftw);
          assert.equal(x.fip, fip);
          assert.equal(x.st5, st5);
          assert.equal(x.fop, 0n);
        },
      ),
      { numRuns: 100 },
    );
  });
});

test("the 32-bit sigcontext table is 88 bytes without gaps", () => {
  let end = 0;
  for (const [, o, s] of SIGCONTEXT_32_FIELDS) {
    assert.equal(o, end);
    end = o + s;
  }
  assert.equal(end, 88);
});
