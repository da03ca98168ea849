/**
 * The scanner against the real processes of ../shared/fixtures: every scenario (plain, in-handler,
 * nested, sigaltstack, multithread, decoy, ymm-only) in all three captures (CRIU checkpoint, gcore
 * core, kernel core). Expected values come from the truth files the processes wrote themselves.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { decodeXstate } from "../../../src/core/elf/thread-state.ts";
import { hexToBytes, leToBigint } from "../../../src/core/hex.ts";
import type { FoundFrame } from "../../../src/core/scan/scan.ts";
import { type ProcessScan, scanTarget } from "../../../src/core/scan/targets.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { openScanTarget } from "../../../src/node/scan-target.ts";
import { FIXTURES, needs } from "../../helpers/shared.ts";

const SCENARIOS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"] as const;
const IMAGES = {
  criu: (s: string) => join(FIXTURES, "criu", s),
  gcore: (s: string) => join(FIXTURES, "core", `${s}.core`),
  kcore: (s: string) => join(FIXTURES, "core", `${s}.kernel.core`),
} as const;
type ImageKind = keyof typeof IMAGES;

// biome-ignore lint/suspicious/noExplicitAny: truth files are plain JSON
type Truth = any;
const truth = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
const checks = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "checks", `${s}.json`), "utf8"));
const big = (s: string) => BigInt(s);

async function scan(
  path: string,
  all = false,
): Promise<{
  scans: ProcessScan[];
  frames: FoundFrame[];
  close(): void;
  t: Awaited<ReturnType<typeof openScanTarget>>;
}> {
  const t = await openScanTarget(path);
  const scans = scanTarget(t, all ? { all: true } : {});
  return { scans, frames: scans.flatMap((s) => s.result.frames), close: () => t.close(), t };
}

function liveTruthFrames(tr: Truth): Truth[] {
  return tr.threads.flatMap((th: Truth) => th.frames);
}

const fixtures = needs(FIXTURES, "signal-frame fixtures");

for (const S of SCENARIOS) {
  describe(`scan ${S}`, fixtures, () => {
    for (const kind of Object.keys(IMAGES) as ImageKind[]) {
      test(`${kind}: exactly the live frames of the truth, high, chained by depth`, async () => {
        const tr = truth(S);
        const r = await scan(IMAGES[kind](S));
        try {
          const high = r.frames.filter((f) => f.confidence === "high");
          const want = liveTruthFrames(tr);
          assert.equal(high.length, want.length, `high frames: ${high.map((f) => f.ucontext.toString(16))}`);
          assert.equal(tr.live_frame_count, want.length);
          for (const w of want) {
            const f = high.find((x) => x.ucontext === big(w.uc));
            assert.ok(f, `frame uc ${w.uc} not found`);
            assert.equal(f.frame, big(w.frame_addr));
            assert.equal(f.fpstate, big(w.fpstate));
            assert.equal(f.siginfo, big(w.siginfo));
            assert.equal(f.end, big(w.frame_end));
            assert.equal(f.depth, w.depth);
            assert.equal(f.signal, w.signo);
            assert.equal(f.signalName, w.signame);
            assert.equal(f.thread?.tid, w.tid);
            assert.equal(f.thread?.index, w.thread_index);
            assert.equal(f.sw.xstateSize, w.sw_bytes.xstate_size);
            assert.equal(f.sw.extendedSize, w.sw_bytes.extended_size);
            assert.equal(f.sw.xfeatures, big(w.sw_bytes.xfeatures));
            assert.equal(f.xstateBv, big(w.xstate_bv));
            assert.equal(f.onAltstack, w.on_altstack);
            assert.equal(f.ucSigmask, big(w.uc_sigmask));
            assert.equal(f.siginfoFields.code, w.siginfo_fields.si_code);
            assert.deepEqual(f.reasons, []);
          }
          // Each thread's report: in a handler exactly when the truth says so, to the right depth.
          const reports = r.scans.flatMap((s) => s.result.threads);
          assert.equal(reports.length, tr.threads.length);
          for (const th of tr.threads) {
            const rep = reports.find((x) => x.thread.tid === th.tid);
            assert.ok(rep, `thread ${th.tid}`);
            assert.equal(rep.frames.length, th.frames.length);
            assert.deepEqual(
              rep.frames.map((f) => f.depth),
              th.frames.map((f: Truth) => f.depth),
            );
            assert.equal(rep.thread.sp, big(th.sp_at_block));
            assert.ok(rep.thread.fpu, "the thread's own FPU state");
            // As each image stores it (gcore's note says 0xe7 even for ymm-only threads).
            const state = checks(S)[`${kind}_thread_state`][String(th.tid)];
            assert.equal(rep.thread.fpu.xstateBv, big(state.xstate_bv));
            if (kind !== "gcore") assert.equal(rep.thread.fpu.xstateBv, big(th.live_xinuse_expected) | 3n);
            assert.equal(rep.thread.fpu.mxcsr, Number(tr.contexts[th.live_context].mxcsr));
          }
        } finally {
          r.close();
        }
      });

      test(`${kind}: the registers saved in each live frame are the truth context`, async () => {
        const tr = truth(S);
        const r = await scan(IMAGES[kind](S));
        try {
          const layout = computeLayout(
            // The layout of the CPU the process ran on, as the CRIU checkpoint records it.
            (await openScanTarget(IMAGES.criu(S))).profile!,
          );
          for (const w of liveTruthFrames(tr)) {
            const f = r.frames.find((x) => x.ucontext === big(w.uc) && x.confidence === "high")!;
            const ctx = tr.contexts[w.saved_context];
            // General registers, from the sigcontext.
            for (const [name, v] of Object.entries(ctx.gpr)) {
              assert.equal(
                f.sigcontext[name as keyof typeof f.sigcontext],
                big(v as string),
                `${w.uc} ${name}`,
              );
            }
            for (const [name, v] of Object.entries(w.sigcontext)) {
              const key = name as keyof typeof f.sigcontext;
              assert.equal(f.sigcontext[key], big(v as string), `${w.uc} sigcontext.${name}`);
            }
            assert.equal(f.sigcontext.rsp, big(w.interrupted_rsp));
            assert.equal(f.mxcsr, Number(ctx.mxcsr));
            // Vector, mask and x87 registers, from the fpstate bytes in the image.
            const mem = r.scans[0]!.process.memory;
            const bytes = mem.read(f.fpstate, f.sw.xstateSize)!;
            const st = decodeXstate(bytes, layout);
            const zmmCount = ctx.isa === "zmm" ? 32 : 16;
            for (let i = 0; i < 32; i++) {
              const want = leToBigint(hexToBytes(ctx.zmm[i]));
              assert.equal(st.regs[`zmm${i}`], want, `${w.uc} zmm${i}`);
              if (i >= zmmCount) assert.equal(want, 0n, "a ymm context leaves zmm16-31 zero");
            }
            for (let i = 0; i < 8; i++) assert.equal(st.regs[`k${i}`], big(ctx.k[i]), `${w.uc} k${i}`);
            for (let i = 0; i < 2; i++) {
              assert.equal(st.regs[`st${i}`], leToBigint(hexToBytes(ctx.x87_st[i])), `${w.uc} st${i}`);
            }
          }
        } finally {
          r.close();
        }
      });

      test(`${kind}: every magic1 in the image is accounted for, and no decoy is high`, async () => {
        const tr = truth(S);
        const ck = checks(S);
        const r = await scan(IMAGES[kind](S), true);
        try {
          const res = r.scans[0]!.result;
          // With --all every magic1 dword is examined: exactly the ones the fixture checker counted.
          assert.equal(res.magic1Hits, ck.magic1_hits[kind].total);
          const high = new Set(r.frames.filter((f) => f.confidence === "high").map((f) => f.magic1));
          const live = new Set(liveTruthFrames(tr).map((f: Truth) => big(f.magic1_addr)));
          assert.deepEqual(high, live);
          const seen = new Map<bigint, string>();
          for (const f of r.frames) seen.set(f.magic1, f.confidence);
          for (const x of res.rejected) seen.set(x.magic1, "rejected");
          for (const occ of tr.magic1_occurrences) {
            const a = big(occ.addr);
            const got = seen.get(a);
            if (occ.kind === "live_frame") assert.equal(got, "high", occ.addr);
            else if (got !== undefined) assert.notEqual(got, "high", `${occ.kind} at ${occ.addr}`);
          }
          for (const d of tr.decoys) {
            const got = seen.get(big(d.magic1_addr));
            assert.ok(got !== undefined, `decoy ${d.category} at ${d.magic1_addr} is in every image`);
            assert.notEqual(got, "high", `decoy ${d.category}`);
          }
        } finally {
          r.close();
        }
      });
    }
  });
}

describe("scan S6 decoys, one by one", fixtures, () => {
  const tr = truth("S6");
  for (const kind of Object.keys(IMAGES) as ImageKind[]) {
    test(`${kind}: each decoy category gets its own reason`, async () => {
      const r = await scan(IMAGES[kind]("S6"), true);
      try {
        const res = r.scans[0]!.result;
        const frame = (a: bigint) => r.frames.find((f) => f.magic1 === a);
        const rej = (a: bigint) => res.rejected.find((x) => x.magic1 === a);
        for (const d of tr.decoys) {
          const a = big(d.magic1_addr);
          switch (d.category) {
            case "stale_stack_frame": {
              const f = frame(a)!;
              assert.equal(f.confidence, "low");
              assert.equal(f.depth, null);
              assert.deepEqual(f.problems, [], "the stale frame itself is intact");
              assert.match(f.reasons.join(" "), /below thread 1's stack pointer/);
              break;
            }
            case "heap_copy_exact":
              assert.equal(rej(a)?.code, "no-ucontext");
              break;
            case "heap_copy_relocated": {
              const f = frame(a)!;
              assert.equal(f.confidence, "low");
              assert.match(f.reasons.join(" "), /not where the kernel puts it/);
              assert.match(f.reasons.join(" "), /not on any thread's stack/);
              break;
            }
            case "heap_copy_misaligned":
            case "bare_magic1":
              if (big(d.magic1_addr) % 64n !== 16n) assert.equal(rej(a)?.code, "misaligned", d.category);
              else assert.ok(rej(a), d.category);
              break;
            case "magic1_plausible_sw_no_magic2":
              assert.equal(rej(a)?.code, "no-magic2");
              break;
            case "magic1_sw_magic2_no_ucontext":
              assert.equal(rej(a)?.code, "no-ucontext");
              break;
            case "magic1_foreign_xstate_size":
            case "magic1_extended_size_too_small":
              assert.ok(rej(a), d.category);
              assert.notEqual(rej(a)!.code, "misaligned");
              break;
            default:
              assert.fail(`unknown decoy category ${d.category}`);
          }
        }
      } finally {
        r.close();
      }
    });
  }
});

describe("scan progress", fixtures, () => {
  for (const kind of Object.keys(IMAGES) as ImageKind[]) {
    test(`${kind}: every present byte is scanned once, and progress knows the total`, async () => {
      const t = await openScanTarget(IMAGES[kind]("S6"));
      try {
        const seen: [number, number][] = [];
        const [p] = scanTarget(t, { onProgress: (d, n) => seen.push([d, n]) });
        const want = checks("S6").memory_bytes[kind];
        assert.equal(p!.result.bytesScanned, want);
        assert.ok(seen.length > 0);
        assert.deepEqual(seen.at(-1), [want, want]);
        for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0]);
      } finally {
        t.close();
      }
    });
  }
});
