import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { analyzeCoreXsave, openCore, parseElfCore, profileFromCore } from "../../../src/core/elf/index.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { bytesSource } from "../../../src/core/source.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { withFileSource } from "../../../src/node/byte-source.ts";
import { needs } from "../../helpers/shared.ts";
import {
  auxv,
  buildCore,
  layoutNote,
  NT_AUXV,
  NT_GDB_TDESC,
  NT_PRSTATUS,
  NT_X86_XSAVE_LAYOUT,
  NT_X86_XSTATE,
  prstatus,
  xstate,
} from "./build.ts";
import { CORE_DIR, coreBytes, SCENARIOS, truth } from "./fixtures.ts";

describe("an ELF core as a PROFILE (fixtures)", needs(CORE_DIR, "fixture cores"), () => {
  for (const kind of ["kernel", "gcore"] as const) {
    test(`${kind} cores: the profile's layout equals the CPU's (truth xsave_layout)`, () => {
      for (const s of SCENARIOS) {
        const t = truth(s);
        const p = profileFromBytes(coreBytes(s, kind), `${s}.${kind}`);
        assert.equal(p.source.kind, "elf-core");
        assert.equal(p.vendor, "AuthenticAMD");
        assert.equal(p.xcr0, BigInt(t.xsave_layout.xcr0));
        assert.equal(p.atMinSigStkSz, t.host.at_minsigstksz);
        // gdb leaves MXCSR_MASK 0 in its notes: unknown, not claimed.
        assert.equal(p.mxcsrMask, kind === "kernel" ? 0x2ffff : undefined);
        assert.match(p.cpuidReconstructed ?? "", /a core records no CPUID/);
        const l = computeLayout(p);
        assert.equal(l.userSize, t.xsave_layout.cpuid_d0_ebx_user_size);
        assert.equal(l.xcr0, 0xe7n);
        assert.equal(l.frame.extendedSize, 2436);
        assert.deepEqual(
          l.components
            .filter((c) => c.enabled)
            .map((c) => ({ index: c.bit, offset: c.offset, size: c.size })),
          t.xsave_layout.components.map((c) => ({ index: c.index, offset: c.offset, size: c.size })),
        );
        assert.deepEqual(l.warnings, []);
        const notes = p.notes.join("\n");
        if (kind === "kernel") {
          assert.match(notes, /NT_X86_XSAVE_LAYOUT note/);
          assert.doesNotMatch(notes, /gdb/);
        } else {
          assert.match(notes, /gdb ≤ 13 XSAVE quirk \(likely\)/);
          assert.match(notes, /AT_MINSIGSTKSZ 3376/);
        }
      }
    });
  }

  test("a file-descriptor source reads the same core as the in-memory one", () => {
    for (const s of ["S5"]) {
      const path = join(CORE_DIR, `${s}.kernel.core`);
      const mem = openCore(bytesSource(coreBytes(s, "kernel")));
      withFileSource(path, (src) => {
        const c = openCore(src);
        assert.deepEqual(
          c.threads.map((t) => [t.tid, t.regs.rip]),
          mem.threads.map((t) => [t.tid, t.regs.rip]),
        );
        const f = truth(s).threads[1]!.frames[0]!;
        assert.deepEqual(
          c.memory.read(BigInt(f.frame_addr), f.frame_len),
          mem.memory.read(BigInt(f.frame_addr), f.frame_len),
        );
        assert.deepEqual(c.fpu(c.threads[0]!)!.regs, mem.fpu(mem.threads[0]!)!.regs);
      });
    }
  });
});

function synth(opts: {
  xcr0: bigint;
  size: number;
  layout?: [number, number, number][];
  gdb?: boolean;
  minsig?: number;
}) {
  const notes = [
    { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(7, 0x1000n) },
    { owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(opts.size, opts.xcr0) },
  ];
  if (opts.minsig !== undefined)
    notes.push({ owner: "CORE", type: NT_AUXV, desc: auxv([[51, BigInt(opts.minsig)]]) });
  if (opts.layout) notes.push({ owner: "LINUX", type: NT_X86_XSAVE_LAYOUT, desc: layoutNote(opts.layout) });
  if (opts.gdb)
    notes.push({ owner: "GDB", type: NT_GDB_TDESC, desc: new TextEncoder().encode("<target/>\0") });
  return parseElfCore(bytesSource(buildCore(notes)));
}

describe("vendor and layout inference from synthetic cores", () => {
  test("kernel-style Intel AVX-512+PKRU note (2696 bytes) → Intel offsets", () => {
    const x = analyzeCoreXsave(synth({ xcr0: 0x2e7n, size: 2696 }));
    assert.equal(x.vendor, "GenuineIntel");
    assert.equal(x.components.find((c) => c.bit === 9)?.offset, 2688);
    assert.equal(x.gdbQuirk, undefined);
    const l = computeLayout(profileFromCore(synth({ xcr0: 0x2e7n, size: 2696 }), "x"));
    assert.equal(l.userSize, 2696);
    assert.equal(l.components.find((c) => c.bit === 5)?.offset, 1088);
  });

  test("AMD Zen 4 note (2440 bytes) → AMD offsets", () => {
    const x = analyzeCoreXsave(synth({ xcr0: 0x2e7n, size: 2440 }));
    assert.equal(x.vendor, "AuthenticAMD");
    assert.equal(x.components.find((c) => c.bit === 5)?.offset, 832);
    assert.match(x.notes.join(), /inferred from the NT_X86_XSTATE size 2440/);
  });

  test("AVX-only XCR0: vendor not inferable, said so", () => {
    const x = analyzeCoreXsave(synth({ xcr0: 0x7n, size: 832 }));
    assert.equal(x.vendor, "unknown");
    assert.match(x.notes.join(), /cannot be inferred/);
    assert.equal(computeLayout(profileFromCore(synth({ xcr0: 0x7n, size: 832 }), "x")).userSize, 832);
  });

  test("AMX XCR0 on Intel: tile data sized from the vendor table, XFD implied", () => {
    const c = synth({ xcr0: 0x602e7n, size: 11008 });
    const x = analyzeCoreXsave(c);
    assert.equal(x.vendor, "GenuineIntel");
    const l = computeLayout(profileFromCore(c, "x"));
    assert.equal(l.maxUserSize, 11008);
    assert.equal(l.userSize, 2816, "tile data is dynamic: not in the default frame");
  });

  test("gdb note, Intel-sized, no auxv: only a possible quirk, Intel assumed, said so", () => {
    const x = analyzeCoreXsave(synth({ xcr0: 0xe7n, size: 2688, gdb: true }));
    assert.equal(x.vendor, "GenuineIntel");
    assert.equal(x.gdbQuirk?.confidence, "possible");
    assert.match(x.notes.join(), /possible gdb ≤ 13 XSAVE quirk/);
  });

  test("gdb note, Intel-sized, AT_MINSIGSTKSZ of an Intel kernel: Intel, no quirk", () => {
    const x = analyzeCoreXsave(synth({ xcr0: 0xe7n, size: 2688, gdb: true, minsig: 2688 + 944 }));
    assert.equal(x.vendor, "GenuineIntel");
    assert.equal(x.gdbQuirk, undefined);
  });

  test("layout note that disagrees with an Intel-sized XSTATE note: quirk confirmed", () => {
    const x = analyzeCoreXsave(
      synth({
        xcr0: 0xe7n,
        size: 2688,
        layout: [
          [2, 256, 576],
          [5, 64, 832],
          [6, 512, 896],
          [7, 1024, 1408],
        ],
      }),
    );
    assert.equal(x.source, "layout-note");
    assert.equal(x.gdbQuirk?.confidence, "confirmed");
    assert.deepEqual(x.gdbQuirk?.lost, ["k0-k7", "zmm0-zmm5 bits 256-511"]);
  });

  test("a core without XSTATE describes an FXSAVE-only CPU and says so", () => {
    const c = parseElfCore(
      bytesSource(buildCore([{ owner: "CORE", type: NT_PRSTATUS, desc: prstatus(1, 0n) }])),
    );
    const p = profileFromCore(c, "x");
    assert.match(p.notes.join(), /no NT_X86_XSTATE/);
    assert.equal(computeLayout(p).xsave, false);
  });

  test("the profile reader does not claim non-core ELF or text", () => {
    const b = buildCore([]);
    b[16] = 2; // ET_EXEC
    assert.throws(() => profileFromBytes(b, "a.out"));
    assert.throws(() => profileFromBytes(new TextEncoder().encode("\x7fELF"), "x"));
  });
});
