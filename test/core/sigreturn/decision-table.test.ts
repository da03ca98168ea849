/**
 * kernel.md §3.7, every row under every policy, plus the paths around it (NULL, alignment,
 * compacted form, FXSR-only CPUs, AMX tasks). Frames come from the encoder and are edited.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildFpstate } from "../../../src/core/sigframe/build.ts";
import { encodeFpstate } from "../../../src/core/sigframe/fpstate.ts";
import { emptyState, setRegister } from "../../../src/core/sigframe/state.ts";
import { losesState, predict } from "../../../src/core/sigreturn/predict.ts";
import type { Policy, PredictInput, Prediction } from "../../../src/core/sigreturn/types.ts";
import { FP_XSTATE_MAGIC2 } from "../../../src/core/xsave/components.ts";
import { compactedLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";
import { corpusLayout, Frame, PATTERN, patternValue, writeCompacted } from "./fixtures.ts";

const skip = needs(CORPUS, "the CPUID corpus");
const HSW = "intel-core-i7-4770-cpu-3-40ghz.json";
const ICX = "intel-xeon-platinum-8351n-cpu-2-40ghz.json";
const SPR = "intel-xeon-platinum-8570.json";

/** A frame carrying YMM, OPMASK and ZMM state in `style` for `l`. */
function frame(l: XsaveLayout, style: "kernel" | "criu" = "kernel", size?: number): Frame {
  const st = emptyState();
  setRegister(st, "zmm3", patternValue(PATTERN.F, 64));
  if (l.userFeatures & (1n << 5n)) {
    setRegister(st, "k1", 0xffn);
    setRegister(st, "zmm17", patternValue(PATTERN.F, 64));
  }
  const bytes = encodeFpstate(buildFpstate(l, st, style));
  return new Frame(bytes, size ?? bytes.length);
}

function run(
  f: Frame | null,
  task: XsaveLayout,
  policy: Policy,
  extra: Partial<PredictInput> = {},
): Prediction {
  return predict({ fpstate: f ? f.buf : null, task, policy, ...extra });
}

/** "FX" = fxrstor-fallback, "XRSTOR", "SIGSEGV", "INIT". */
function outcome(p: Prediction): string {
  return p.signal
    ? "SIGSEGV"
    : p.path === "fxrstor-fallback"
      ? "FX"
      : p.path === "xrstor"
        ? "XRSTOR"
        : "INIT";
}

function result(p: Prediction, name: string): string | undefined {
  return p.components.find((c) => c.name === name)?.result;
}

describe("§3.7 decision table (task: Ice Lake-SP, user_size 2696)", skip, () => {
  const icx = skip.skip ? undefined! : corpusLayout(ICX);
  const hsw = skip.skip ? undefined! : corpusLayout(HSW);
  const U = 2696;
  const all: Policy[] = ["legacy", "classic", "refined"];
  const expect = (f: () => Frame, want: Record<Policy, string>, extra: Partial<PredictInput> = {}) => {
    for (const policy of all) {
      const p = run(f(), icx, policy, extra);
      assert.equal(outcome(p), want[policy], `${policy}: ${p.reason}: ${p.detail}`);
    }
  };

  test("U is the Ice Lake-SP user_size", () => assert.equal(icx.userSize, U));

  test("magic1 wrong or zero → FX-only everywhere", () => {
    for (const m of [0, 0x12345678]) {
      expect(
        () => {
          const f = frame(icx);
          f.magic1 = m;
          return f;
        },
        { legacy: "FX", classic: "FX", refined: "FX" },
      );
    }
    assert.equal(run(Object.assign(frame(icx), {}), icx, "classic").reason, "xrstor-full");
  });

  test("S < 576 → FX-only (classic, legacy); refined ignores S and checks magic2 at U", () => {
    const small = () => {
      const f = frame(icx);
      f.xstateSize = 572;
      f.extendedSize = 576;
      f.setU32(572, FP_XSTATE_MAGIC2);
      return f;
    };
    expect(small, { legacy: "FX", classic: "FX", refined: "XRSTOR" });
    assert.equal(run(small(), icx, "classic").reason, "xstate-size-below-minimum");
    const noMagicAtU = () => small().setU32(U, 0);
    expect(noMagicAtU, { legacy: "FX", classic: "FX", refined: "FX" });
    assert.equal(run(noMagicAtU(), icx, "refined").reason, "magic2-mismatch");
  });

  test("S > U (frame from a bigger host) → FX-only everywhere", () => {
    const big = () => {
      const f = frame(icx, "kernel", U + 68).setU32(U, 0);
      f.xstateSize = U + 64;
      f.extendedSize = U + 68;
      f.setU32(U + 64, FP_XSTATE_MAGIC2);
      return f;
    };
    expect(big, { legacy: "FX", classic: "FX", refined: "FX" });
    assert.equal(run(big(), icx, "classic").reason, "xstate-size-above-user-size");
    assert.equal(run(big(), icx, "refined").reason, "magic2-mismatch");
  });

  test("S > E → FX-only (classic, legacy); refined ignores E", () => {
    const f = () => {
      const x = frame(icx);
      x.extendedSize = U - 4;
      return x;
    };
    expect(f, { legacy: "FX", classic: "FX", refined: "XRSTOR" });
    assert.equal(run(f(), icx, "classic").reason, "xstate-size-above-extended-size");
  });

  test("S = U, magic2 at S → full XRSTOR everywhere", () => {
    expect(() => frame(icx), { legacy: "XRSTOR", classic: "XRSTOR", refined: "XRSTOR" });
    const p = run(frame(icx), icx, "refined");
    assert.equal(p.reason, "xrstor-full");
    assert.ok(p.components.every((c) => c.result === "frame"));
  });

  test("S < U, magic2 at S (CRIU frame from Haswell): classic/legacy restore YMM, refined FX-only, SIGSEGV if U unmapped", () => {
    const criu = () => frame(hsw, "criu");
    assert.equal(criu().xstateSize, 832);
    expect(criu, { legacy: "XRSTOR", classic: "XRSTOR", refined: "FX" });
    const c = run(criu(), icx, "classic");
    assert.equal(result(c, "YMM"), "frame");
    assert.equal(c.components.find((x) => x.name === "YMM")!.offset, 576);
    assert.deepEqual(c.lost, []);
    const r = run(criu(), icx, "refined");
    assert.equal(result(r, "YMM"), "init");
    assert.deepEqual(r.lost, ["YMM"]);
    assert.ok(losesState(r) && !losesState(c));
    // The same frame with nothing mapped past its magic2.
    expect(criu, { legacy: "XRSTOR", classic: "XRSTOR", refined: "SIGSEGV" }, { readableBytes: 836 });
    assert.equal(run(criu(), icx, "refined", { readableBytes: 836 }).reason, "magic2-unreadable");
  });

  test("lost: only what the frame carried (XSTATE_BV), under FX-only and under SIGSEGV alike", () => {
    // An x87/SSE-only process on Haswell, CRIU-style (xstate_size 576): YMM is init in the frame.
    const plain = () => new Frame(encodeFpstate(buildFpstate(hsw, emptyState(), "criu")), 16384);
    assert.equal(plain().xstateBv, 0x3n);
    const fx = run(plain(), icx, "refined");
    assert.equal(fx.path, "fxrstor-fallback");
    assert.equal(result(fx, "YMM"), "init");
    assert.deepEqual(fx.lost, [], "YMM was init in the frame: nothing lost");
    assert.ok(!losesState(fx));
    const segv = run(plain(), icx, "classic", { readableBytes: 480 });
    assert.equal(segv.signal, "SIGSEGV");
    assert.deepEqual(segv.lost, ["x87", "SSE"], "SIGSEGV loses what was carried, not every component");
    assert.ok(losesState(segv));
    // A frame carrying YMM and AVX-512 state loses it all under SIGSEGV; PKRU (init_pkru) too.
    const full = run(frame(icx), icx, "classic", { readableBytes: 480 });
    assert.deepEqual(full.lost, ["x87", "SSE", "YMM", "OPMASK", "ZMM_Hi256", "Hi16_ZMM", "PKRU"]);
  });

  test("sw_reserved unreadable → SIGSEGV (classic, refined); legacy takes FX-only, whose FXRSTOR then faults", () => {
    expect(
      () => frame(icx),
      { legacy: "SIGSEGV", classic: "SIGSEGV", refined: "SIGSEGV" },
      { readableBytes: 480 },
    );
    assert.equal(run(frame(icx), icx, "classic", { readableBytes: 480 }).reason, "sw-bytes-unreadable");
    assert.equal(run(frame(icx), icx, "legacy", { readableBytes: 480 }).reason, "fxrstor-fault");
  });

  test("magic2 unreadable → SIGSEGV (classic, refined); legacy: FX-only", () => {
    expect(
      () => frame(icx),
      { legacy: "FX", classic: "SIGSEGV", refined: "SIGSEGV" },
      { readableBytes: U + 2 },
    );
    assert.equal(run(frame(icx), icx, "legacy", { readableBytes: U + 2 }).reason, "magic2-unreadable");
  });

  test("XRSTOR #GP (XSTATE_BV outside XCR0, XCOMP_BV, header, MXCSR) → SIGSEGV everywhere", () => {
    const cases: [string, (f: Frame) => void][] = [
      [
        "xrstor-gp-xstate-bv",
        (f) => {
          f.xstateBv = f.xstateBv | (1n << 18n);
        },
      ],
      [
        "xrstor-gp-xcomp-bv",
        (f) => {
          f.xcompBv = 4n;
        },
      ],
      [
        "xrstor-gp-header-reserved",
        (f) => {
          f.setU64(528, 1n);
        },
      ],
      [
        "xrstor-gp-mxcsr",
        (f) => {
          f.mxcsr = 0x1f80 | 0x10000;
        },
      ],
    ];
    for (const [reason, edit] of cases) {
      expect(
        () => {
          const f = frame(icx);
          edit(f);
          return f;
        },
        { legacy: "SIGSEGV", classic: "SIGSEGV", refined: "SIGSEGV" },
      );
      assert.equal(
        run(
          (() => {
            const f = frame(icx);
            edit(f);
            return f;
          })(),
          icx,
          "classic",
        ).reason,
        reason,
      );
    }
  });

  test("XRSTOR #PF and fault-in of U fails → SIGSEGV", () => {
    // A Haswell-size frame that claims AVX-512 state: XRSTOR reads past what is mapped.
    const f = () => {
      const x = frame(hsw, "criu");
      x.xfeatures = icx.userFeatures;
      x.xstateBv = 0xe7n;
      return x;
    };
    const mapped = { readableBytes: 836 };
    expect(f, { legacy: "SIGSEGV", classic: "SIGSEGV", refined: "SIGSEGV" }, mapped);
    const p = run(f(), icx, "classic", mapped);
    assert.equal(p.reason, "xrstor-fault");
    assert.ok(p.notes.some((n) => n.includes("CVE-2024-26603")));
    assert.ok(p.components.every((c) => c.result === "init"));
  });
});

describe("paths around the table", skip, () => {
  const icx = skip.skip ? undefined! : corpusLayout(ICX);

  test("NULL fpstate → init, no signal, under every policy", () => {
    for (const policy of ["legacy", "classic", "refined"] as const) {
      const p = run(null, icx, policy);
      assert.equal(p.path, "init");
      assert.equal(p.signal, null);
      assert.equal(p.mxcsr, "init");
      assert.ok(p.components.every((c) => c.result === "init"));
      assert.equal(p.components.length, 7);
    }
  });

  test("misaligned fpstate: v5.14+ SIGSEGV, legacy FXRSTOR; 8-byte misalignment kills even FXRSTOR", () => {
    assert.equal(run(frame(icx), icx, "classic", { address: 0x10010n }).reason, "xrstor-gp-alignment");
    const leg = run(frame(icx), icx, "legacy", { address: 0x10010n });
    assert.equal(leg.path, "fxrstor-fallback");
    assert.equal(leg.reason, "fpstate-misaligned");
    assert.equal(run(frame(icx), icx, "legacy", { address: 0x10008n }).reason, "fxrstor-gp-alignment");
  });

  test("compacted form on Ice Lake: components load from the compacted offsets", () => {
    const f = frame(icx);
    const bv = f.xstateBv;
    f.xcompBv = (1n << 63n) | bv;
    writeCompacted(f.buf, icx, bv, PATTERN.C, [5]);
    const p = run(f, icx, "classic");
    assert.equal(p.reason, "xrstor-compacted");
    const offs = compactedLayout(icx, bv);
    const k = p.components.find((c) => c.name === "OPMASK")!;
    assert.equal(k.offset, offs.get(5));
    assert.notEqual(k.offset, 1088);
    // Components the compacted XSTATE_BV does not carry are init.
    assert.equal(result(p, "ZMM_Hi256"), bv & (1n << 6n) ? "frame" : "init");
    assert.equal(run(f, icx, "classic", { compactedForm: false }).signal, "SIGSEGV");
    f.setU64(560, 1n); // header bytes 48..55: ignored by the standard form only
    assert.equal(run(f, icx, "classic").reason, "xrstor-gp-header-reserved");
  });

  test("a CPU without XSAVE restores a 16-byte aligned image with FXRSTOR, ignoring the sw bytes", () => {
    const fx: XsaveLayout = {
      ...icx,
      xsave: false,
      xcr0: 3n,
      userFeatures: 3n,
      userSize: 512,
      components: icx.components.map((c) => ({ ...c, enabled: c.bit < 2 })),
    };
    const f = frame(icx);
    f.magic1 = 0xdeadbeef;
    const p = run(f, fx, "classic", { address: 0x10010n });
    assert.equal(p.reason, "no-xsave");
    assert.equal(p.path, "fxrstor-fallback");
    assert.deepEqual(
      p.components.map((c) => c.result),
      ["frame", "frame"],
    );
  });

  test("AMX task (Sapphire Rapids, user_size 11008) and a default-size frame of 2816", () => {
    const plain = corpusLayout(SPR);
    const amx = corpusLayout(SPR, true);
    assert.equal(plain.userSize, 2816);
    assert.equal(amx.userSize, 11008);
    const f = frame(plain, "kernel", 12000);
    const c = run(f, amx, "classic");
    assert.equal(c.path, "xrstor");
    assert.equal(c.reason, "xfeatures-partial");
    assert.equal(result(c, "XTILEDATA"), "init");
    assert.equal(result(c, "Hi16_ZMM"), "frame");
    const r = run(f, amx, "refined");
    assert.equal(r.path, "fxrstor-fallback");
    assert.ok(r.detail.includes("11008"));
  });

  test("a kernel frame restores PKRU from its slot; sw.xfeatures without PKRU sets it to init", () => {
    const f = frame(icx);
    const full = run(f, icx, "classic");
    assert.equal(full.components.find((c) => c.name === "PKRU")!.offset, 2688);
    f.xfeatures = icx.userFeatures & ~(1n << 9n);
    assert.equal(result(run(f, icx, "classic"), "PKRU"), "init");
  });

  test("FX-only keeps MXCSR from the frame; XRSTOR without SSE in RFBM sets it to init", () => {
    const f = frame(icx);
    f.magic1 = 0;
    assert.equal(run(f, icx, "classic").mxcsr, "frame");
    const g = frame(icx);
    g.xfeatures = 1n;
    assert.equal(run(g, icx, "classic").mxcsr, "init");
  });
});
