import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GPR_NAMES, openCore, parseElfCore } from "../../../src/core/elf/index.ts";
import { regionAt } from "../../../src/core/memory.ts";
import { needs } from "../../helpers/shared.ts";
import { CORE_DIR, coreSource, fnv1a64, SCENARIOS, truth } from "./fixtures.ts";

const KINDS = ["gcore", "kernel"] as const;

describe("ELF cores of the fixtures", needs(CORE_DIR, "fixture cores"), () => {
  for (const s of SCENARIOS) {
    for (const kind of KINDS) {
      test(`${s} ${kind}: threads, notes, live frames in PT_LOAD memory`, () => {
        const t = truth(s);
        const c = openCore(coreSource(s, kind), `${s}.${kind}`);
        assert.equal(c.core.header.type, 4);
        assert.deepEqual(
          c.threads.map((x) => x.tid).sort((a, b) => a - b),
          [...t.tids].sort((a, b) => a - b),
        );
        assert.equal(c.threads.length, t.threads.length);
        for (const th of c.threads) {
          assert.ok(th.xstate, `thread ${th.tid} has NT_X86_XSTATE`);
          assert.equal(th.fpregs?.length, 512);
          assert.deepEqual(Object.keys(th.regs), [...GPR_NAMES]);
          assert.equal(th.notes[0]!.typeName, "NT_PRSTATUS");
        }
        assert.equal(c.core.psinfo?.pid, t.pid);
        assert.ok(c.core.files && c.core.files.entries.length > 0, "NT_FILE decoded");
        assert.equal(c.core.warnings.length, 0, c.core.warnings.join("; "));

        // Every live frame is present and byte-identical.
        let frames = 0;
        for (const tt of t.threads) {
          for (const f of tt.frames) {
            const bytes = c.memory.read(BigInt(f.frame_addr), f.frame_len);
            assert.ok(bytes, `frame at ${f.frame_addr} readable`);
            assert.equal(fnv1a64(bytes), BigInt(f.frame_fnv1a64), `FNV of frame at ${f.frame_addr}`);
            frames++;
          }
        }
        assert.equal(
          frames,
          t.threads.reduce((n, x) => n + x.frames.length, 0),
        );

        // The region holding a thread's sp is [stack] exactly where the process's own maps say so
        // (the initial stack); an altstack or a pthread stack is an anonymous mapping.
        for (const th of c.threads) {
          const r = regionAt(c.memory, th.regs.rsp);
          const vma = t.threads.find((x) => x.tid === th.tid)!.sp_vma.name;
          assert.equal(r?.name ?? "(anonymous)", vma, `rsp of ${th.tid}`);
        }
      });
    }
  }

  test("kernel cores: NT_PRSTATUS registers equal the truth (GPR patterns, syscall restart state)", () => {
    for (const s of SCENARIOS) {
      const t = truth(s);
      const c = openCore(coreSource(s, "kernel"));
      for (const tt of t.threads) {
        const th = c.threads.find((x) => x.tid === tt.tid)!;
        const ctx = t.contexts[tt.live_context]!;
        for (const [name, v] of Object.entries(ctx.gpr)) {
          assert.equal(th.regs[name as (typeof GPR_NAMES)[number]], BigInt(v), `${s} ${tt.tid} ${name}`);
        }
        assert.equal(th.regs.rip, BigInt(tt.rip_after_syscall), `${s} rip`);
        assert.equal(th.regs.orig_rax, BigInt(tt.blocked_syscall_nr), `${s} orig_rax`);
        assert.equal(th.regs.rsp, BigInt(tt.sp_at_block), `${s} rsp`);
        // -ERESTARTNOHAND for pause, -ERESTART_RESTARTBLOCK for nanosleep.
        const expectRax = tt.blocked_syscall_nr === 34 ? -514n : -516n;
        assert.equal(BigInt.asIntN(64, th.regs.rax), expectRax, `${s} rax`);
        assert.equal(th.regs.cs, 0x33n);
        assert.equal(th.regs.ss, 0x2bn);
      }
      // The dumping thread carries SIGQUIT.
      assert.equal(c.threads[0]!.signal, 3);
      assert.equal(c.threads[0]!.siginfo?.signo, 3);
    }
  });

  test("kernel cores: NT_X86_XSAVE_LAYOUT decodes to the CPU's layout", () => {
    for (const s of SCENARIOS) {
      const c = parseElfCore(coreSource(s, "kernel"));
      assert.deepEqual(c.xsaveLayout, [
        { type: 2, size: 256, offset: 576, flags: 0 },
        { type: 5, size: 64, offset: 832, flags: 0 },
        { type: 6, size: 512, offset: 896, flags: 0 },
        { type: 7, size: 1024, offset: 1408, flags: 0 },
      ]);
      assert.equal(c.writtenByGdb, false);
      for (const th of c.threads) assert.equal(th.xstate!.length, 2432);
    }
  });

  test("gcore cores: written by gdb, no layout note, Intel-sized xstate", () => {
    for (const s of SCENARIOS) {
      const c = parseElfCore(coreSource(s, "gcore"));
      assert.equal(c.writtenByGdb, true);
      assert.equal(c.xsaveLayout, undefined);
      for (const th of c.threads) assert.equal(th.xstate!.length, 2688);
    }
  });

  test("chunks() covers every present byte once beyond the overlap, with bounded chunk size", () => {
    const c = openCore(coreSource("S2", "kernel"));
    const t = truth("S2");
    const f = t.threads[0]!.frames[0]!;
    const max = 4096;
    const overlap = 64;
    let total = 0;
    let found = false;
    let prevEnd: bigint | undefined;
    for (const ch of c.memory.chunks(max, overlap)) {
      assert.ok(ch.bytes.length <= max + overlap);
      const end = ch.addr + BigInt(ch.bytes.length);
      const fresh = prevEnd !== undefined && ch.addr < prevEnd ? Number(end - prevEnd) : ch.bytes.length;
      total += fresh;
      prevEnd = end;
      const a = BigInt(f.frame_addr);
      if (a >= ch.addr && a + 16n <= end) {
        const off = Number(a - ch.addr);
        assert.deepEqual(ch.bytes.subarray(off, off + 16), c.memory.read(a, 16));
        found = true;
      }
    }
    const present = c.core.programHeaders.filter((p) => p.type === 1).reduce((n, p) => n + p.filesz, 0);
    assert.equal(total, present);
    assert.ok(found);
  });

  test("memory: not-dumped tails are missing, unmapped reads are undefined", () => {
    const c = openCore(coreSource("S2", "kernel"));
    const gaps = c.memory.missing!();
    assert.ok(gaps.length > 0, "the kernel leaves unchanged file-backed pages out");
    assert.ok(gaps.every((g) => g.why.startsWith("not dumped")));
    const g = gaps[0]!;
    assert.equal(c.memory.read(g.start, 1), undefined);
    assert.equal(c.memory.read(0x10n, 8), undefined);
    const r = c.memory.regions();
    for (let i = 1; i < r.length; i++) assert.ok(r[i - 1]!.start < r[i]!.start);
  });
});
