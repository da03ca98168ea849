/**
 * The scanner on processes made in the test (frames placed and written as the kernel delivers
 * them, the process written as an ELF core): where each frame is, on any CPU, without ../shared.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openCore } from "../../../src/core/elf/index.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { elfCoreTarget, scanTarget } from "../../../src/core/scan/targets.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { elfCore, simulate } from "../../helpers/process-core.ts";

const HEAP = 0x555555560000n;
const STACK = 0x7ffffffde000n;
const STACK_TOP = STACK + 0x21000n;
const TSTACK = 0x7f0000100000n;

function scanCore(bytes: Uint8Array) {
  const t = elfCoreTarget(openCore(bytesSource(bytes), "sim.core"), "sim.core");
  const [s] = scanTarget(t);
  return s!.result;
}

describe("a malloc'd sigaltstack in the heap, nested frames on it (core without sigaltstack records)", () => {
  for (const name of ["intel-sapphirerapids", "amd-zen4", "intel-haswell"]) {
    test(`${name}: both frames are on the altstack, the heap is not [stack]`, () => {
      const l = computeLayout(builtinProfile(name));
      const p = simulate(
        l,
        [
          {
            tid: 4242,
            sp: STACK_TOP - 0x800n,
            altstack: { sp: HEAP + 0x2a0n, size: 0x10000n },
            signals: [
              { signo: 10, onstack: true },
              { signo: 12, onstack: true },
            ],
          },
        ],
        [
          { start: HEAP, size: 0x21000 },
          { start: STACK, size: 0x21000 },
        ],
      );
      const r = scanCore(elfCore(p, { mainStack: STACK_TOP - 0x100n }));
      const live = r.frames.filter((f) => f.confidence === "high");
      assert.deepEqual(
        live.map((f) => [f.depth, f.signalName, f.onAltstack]),
        [
          [1, "SIGUSR1", true],
          [2, "SIGUSR2", true],
        ],
      );
      for (const f of live) {
        assert.equal(f.region?.start, HEAP);
        assert.notEqual(f.region?.name, "[stack]", "the heap is not the process stack");
      }
      assert.equal(r.threads[0]!.stack?.name, undefined);
    });
  }

  test("a frame on the main stack of a thread that has a sigaltstack (no SA_ONSTACK) is not on it", () => {
    const l = computeLayout(builtinProfile("amd-zen4"));
    const p = simulate(
      l,
      [{ tid: 7, sp: STACK_TOP - 0x800n, altstack: { sp: HEAP, size: 0x8000n }, signals: [{ signo: 14 }] }],
      [
        { start: HEAP, size: 0x9000 },
        { start: STACK, size: 0x21000 },
      ],
    );
    const r = scanCore(elfCore(p, { mainStack: STACK_TOP - 0x100n }));
    const [f] = r.frames;
    assert.equal(f?.confidence, "high");
    assert.equal(f?.onAltstack, false);
    assert.equal(f?.region?.name, "[stack]");
  });

  test("a second thread's stack (a pthread stack) is not named [stack]", () => {
    const l = computeLayout(builtinProfile("intel-icelake-server"));
    const p = simulate(
      l,
      [
        { tid: 100, sp: STACK_TOP - 0x800n, signals: [] },
        { tid: 101, sp: TSTACK + 0x7000n, signals: [{ signo: 10 }] },
      ],
      [
        { start: STACK, size: 0x21000 },
        { start: TSTACK, size: 0x8000 },
      ],
      100,
    );
    const r = scanCore(elfCore(p, { mainStack: STACK_TOP - 0x100n }));
    const f = r.frames.find((x) => x.confidence === "high");
    assert.equal(f?.thread?.tid, 101);
    assert.equal(f?.region?.start, TSTACK);
    assert.equal(f?.region?.name, undefined);
    assert.equal(r.threads.find((t) => t.thread.tid === 100)?.stack?.name, "[stack]");
  });
});
