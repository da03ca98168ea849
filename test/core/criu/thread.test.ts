/** Registers in core-<tid>.img equal the ground-truth live contexts of every thread. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { decodeCore } from "../../../src/core/criu/decode.ts";
import {
  opmaskRegisters,
  sigactionSignal,
  stRegister,
  threadState,
  zmmRegister,
} from "../../../src/core/criu/thread.ts";
import { bytesToHex } from "../../../src/core/hex.ts";
import { needs } from "../../helpers/shared.ts";
import { CRIU_DIR, SCENARIOS, truth } from "./fixtures.ts";

const GPR: Record<string, string> = {
  rbx: "bx",
  rbp: "bp",
  r8: "r8",
  r9: "r9",
  r10: "r10",
  r12: "r12",
  r13: "r13",
  r14: "r14",
  r15: "r15",
};

describe("CRIU thread state vs ground truth", needs(CRIU_DIR, "CRIU fixtures"), () => {
  for (const s of SCENARIOS) {
    test(`${s}: every thread's live registers`, () => {
      const t = truth(s);
      assert.ok(t.threads.length >= 1);
      for (const th of t.threads) {
        const name = `core-${th.tid}.img`;
        const st = threadState(decodeCore(readFileSync(join(CRIU_DIR, s, name)), name));
        const ctx = t.contexts[th.live_context];
        const where = `${s} tid ${th.tid}`;
        for (const [k, v] of Object.entries(ctx.gpr as Record<string, string>)) {
          assert.equal(st.gpregs[GPR[k] as "bx"], BigInt(v), `${where} ${k}`);
        }
        // Syscall-restart state as CRIU stores it.
        if (th.blocked_in === "pause") {
          assert.equal(st.gpregs.ip, BigInt(th.syscall_insn_addr), `${where} ip`);
          assert.equal(st.gpregs.ax, 34n);
          assert.equal(st.gpregs.orig_ax, 34n);
        } else {
          assert.equal(st.gpregs.ip, BigInt(th.rip_after_syscall), `${where} ip`);
          assert.equal(st.gpregs.orig_ax, 219n);
          assert.equal(st.gpregs.ax, BigInt.asUintN(64, -4n));
        }
        assert.equal(st.xstateBv, BigInt(th.live_xinuse_expected), `${where} xstate_bv`);
        assert.equal(st.fpregs.mxcsr, Number(ctx.mxcsr), `${where} mxcsr`);
        assert.equal(bytesToHex(stRegister(st.fpregs, 0)!), ctx.x87_st[0]);
        assert.equal(bytesToHex(stRegister(st.fpregs, 1)!), ctx.x87_st[1]);
        const zmm: string[] = ctx.zmm;
        for (let r = 0; r < 32; r++) {
          const got = bytesToHex(zmmRegister(st.fpregs, r).bytes);
          if (ctx.isa === "zmm") assert.equal(got, zmm[r], `${where} zmm${r}`);
          else if (r < 16) assert.equal(got, zmm[r]!.slice(0, 64) + "0".repeat(64), `${where} ymm${r}`);
          else assert.equal(got, "0".repeat(128), `${where} zmm${r} untouched`);
        }
        const k = opmaskRegisters(st.fpregs)!;
        if (ctx.isa === "zmm")
          assert.deepEqual(
            k,
            (ctx.k as string[]).map((x) => BigInt(x)),
          );
        else assert.deepEqual(k, new Array(8).fill(0n));
        if (st.blocked !== undefined)
          assert.equal(st.blocked, BigInt(th.blocked_sigmask), `${where} blocked`);
      }
    });
  }

  test("sigactions skip SIGKILL and SIGSTOP", () => {
    assert.deepEqual([0, 7, 8, 9, 16, 17, 61].map(sigactionSignal), [1, 8, 10, 11, 18, 20, 64]);
    // S2's SIGUSR1 handler is at index 8.
    const t = truth("S2");
    const core = decodeCore(readFileSync(join(CRIU_DIR, "S2", `core-${t.pid}.img`)));
    const sa = core.tc!.sigactions;
    assert.equal(sa.length, 62);
    const handled = sa.map((x, i) => (x.sigaction > 1n ? sigactionSignal(i) : 0)).filter(Boolean);
    assert.ok(handled.includes(10), `handlers for ${handled}`);
    assert.equal(sa[8]!.restorer, BigInt(t.threads[0].frames[0].pretcode));
  });
});
