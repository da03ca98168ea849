/**
 * Regressions for the inputs a mutation campaign found (../shared/fuzz-repro and the "too slow or
 * too big from small inputs" list of its README). Each input is generated here with the structure
 * of the reproducer, from built-in profiles and built frames: the files themselves are not used.
 * Every run must end in the contract's one error line (or a result), and where the input claims a
 * size, the error must come from the reader that sees the claim, before anything is sized by it.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { corpusJsonBytes, cpuidRBytes, liveStack, profileJsonBytes, STACK, TEXT } from "../../fuzz/seeds.ts";
import type { CpuidLeaf } from "../../src/core/cpuid/cpuid.ts";
import { Cpuid } from "../../src/core/cpuid/cpuid.ts";
import { pstree_entrySchema } from "../../src/core/criu/gen/pstree_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, parseImage } from "../../src/core/criu/image.ts";
import { LIMITS, parseElfCore } from "../../src/core/elf/index.ts";
import { InvalidDataError } from "../../src/core/errors.ts";
import { profileFromCpuid } from "../../src/core/profile.ts";
import { builtinProfile, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { MAX_JSON_PROFILE_BYTES } from "../../src/core/profiles/json.ts";
import { fpstateForInterruptedRsp } from "../../src/core/scan/geometry.ts";
import { MAX_STATE_BYTES } from "../../src/core/sigframe/state.ts";
import { bytesSource } from "../../src/core/source.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { MAX_XSAVE_SIZE } from "../../src/core/xsave/limits.ts";
import {
  buildCore,
  type LoadSpec,
  NT_FILE,
  NT_PRSTATUS,
  NT_X86_XSTATE,
  noteBytes,
  prstatus,
  xstate,
} from "../core/elf/build.ts";
import { measureWork } from "../helpers/work.ts";
import { cli } from "./harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "sigframe-repro-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (name: string, data: string | Uint8Array) => {
  const p = join(tmp, `${n++}-${name}`);
  writeFileSync(p, data);
  return p;
};

const hex8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** The leaves of a built-in profile with CPUID(0xD, sub).reg replaced by `value`. */
function corrupted(name: string, sub: number, reg: "eax" | "ebx", value: number): CpuidLeaf[] {
  const leaves = builtinProfile(name).cpuid.leaves.map((l) => ({ ...l }));
  const l = leaves.find((x) => x.leaf === 0xd && x.subleaf === sub);
  assert.ok(l, `${name} has CPUID(0xD,${sub})`);
  l[reg] = value >>> 0;
  return leaves;
}

const dec = new TextDecoder();

/** `cpuid -r` text of one CPU (as the campaign's seeds write it) and the 1-based line of CPUID(0xD, sub). */
function cpuidR(leaves: CpuidLeaf[], sub: number): { text: string; line: number } {
  const text = dec.decode(cpuidRBytes(leaves));
  const at = `   ${hex8(0xd)} 0x${sub.toString(16).padStart(2, "0")}:`;
  return { text, line: text.split("\n").findIndex((l) => l.startsWith(at)) + 1 };
}

/** A sigframe-profile/1 document of `name` with these leaves; the index of CPUID(0xD, sub). */
function profileJson(name: string, leaves: CpuidLeaf[], sub: number): { text: string; index: number } {
  const text = dec.decode(profileJsonBytes({ ...builtinProfile(name), cpuid: new Cpuid(leaves) }));
  return { text, index: leaves.findIndex((l) => l.leaf === 0xd && l.subleaf === sub) };
}

/** The same leaves in the cpuid-corpus schema (`leaves`, `xgetbv`). */
function corpusJson(leaves: CpuidLeaf[], sub: number): { text: string; index: number } {
  const text = dec.decode(
    corpusJsonBytes({ ...builtinProfile("intel-sapphirerapids"), cpuid: new Cpuid(leaves) }),
  );
  return { text, index: leaves.findIndex((l) => l.leaf === 0xd && l.subleaf === sub) };
}

/** The reader's error for these bytes (it must be one). */
function readError(bytes: string, name: string): InvalidDataError {
  try {
    profileFromBytes(new TextEncoder().encode(bytes), name);
  } catch (e) {
    assert.ok(e instanceof InvalidDataError, `InvalidDataError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${name} was read as a profile`);
}

async function refused(args: string[], input: string): Promise<string> {
  const r = await cli(args, { input });
  assert.equal(r.code, 2, r.err);
  return r.err;
}

describe("XSAVE sizes from CPUID are bounded by the architecture", () => {
  test("cpuid-r-huge-component: a 'cpuid -r' dump whose YMM sub-leaf claims 0xffffffff bytes", async () => {
    const { text, line } = cpuidR(corrupted("intel-skylake-server", 2, "eax", 0xffffffff), 2);
    const e = readError(text, "dump.txt");
    assert.equal(e.line, line);
    assert.match(e.message, /CPUID\(0xD,2\)\.EAX: YMM is 4294967295 bytes/);
    const p = file("huge-component.txt", text);
    const err = await refused(["check", "--from", "intel-skylake-server", "--to", p], p);
    assert.ok(err.startsWith(`sigframe: ${p}: ${line}: `), err);
  });

  test("memory-profile-a: a corpus dump whose PKRU sub-leaf claims 2 GiB", async () => {
    const { text, index } = corpusJson(corrupted("intel-sapphirerapids", 9, "eax", 0x80000000), 9);
    const e = readError(text, "a.json");
    assert.equal(e.path, `leaves/${index}/eax`);
    const p = file("memory-profile-a.json", text);
    await refused(["build", "--cpu", p, "-o", join(tmp, "a.bin")], p);
    await refused(["check", "--from", p, "--to", "intel-haswell"], p);
  });

  test("memory-profile-b and profile-ymm-offset-2GiB: YMM at offset 2 GiB", async () => {
    const { text, index } = profileJson("intel-haswell", corrupted("intel-haswell", 2, "ebx", 0x80000000), 2);
    const e = readError(text, "b.json");
    assert.equal(e.path, `cpuid/${index}/ebx`);
    assert.match(e.message, /YMM at offset 2147483648/);
    const p = file("ymm-offset.json", text);
    await refused(["build", "--cpu", p, "-o", join(tmp, "b.bin")], p);
    await refused(["build", "--cpu", p, "-o", "-"], p);
    await refused(["matrix", p, "intel-skylake-server"], p);
    await refused(["translate", "--from", p, "--to", "amd-zen4", p, "-o", join(tmp, "t.bin")], p);
  });

  test("profile-ymm-size-4GiB: YMM of 0xffffffff bytes, as the destination, the source and in a matrix", async () => {
    const { text, index } = profileJson("intel-haswell", corrupted("intel-haswell", 2, "eax", 0xffffffff), 2);
    assert.equal(readError(text, "c.json").path, `cpuid/${index}/eax`);
    const p = file("ymm-size.json", text);
    await refused(["check", "--from", "amd-zen4", "--to", p], p);
    await refused(["check", "--from", p, "--to", "amd-zen4"], p);
    await refused(["matrix", p, "intel-skylake-server"], p);
  });

  test("a component inside the legacy area and XSAVE header (found by the campaign: 219 MB)", async () => {
    // ZMM_Hi256 at offset 4 overlapped the sw_bytes a built frame is read back by.
    const { text, line } = cpuidR(corrupted("intel-skylake-server", 6, "ebx", 4), 6);
    const e = readError(text, "zmm.txt");
    assert.equal(e.line, line);
    assert.match(e.message, /ZMM_Hi256 at offset 4 overlaps the legacy area/);
    const p = file("zmm-at-4.txt", text);
    await refused(["check", "--from", p, "--to", "intel-haswell", "--kernel", "6.15"], p);
    const l = computeLayout(
      profileFromCpuid(new Cpuid(corrupted("intel-skylake-server", 6, "ebx", 4)), "x", { kind: "builtin" }),
    );
    assert.equal(l.components.find((c) => c.bit === 6)!.enabled, false);
  });

  test("components smaller than their registers (found by the campaign: PKRU of 1 byte, exit 70)", async () => {
    // Real dumps have such sizes (0 for enumerated components in some VMs); every command that
    // builds or reads frames for the CPU must take them.
    const cpu = "intel-sapphirerapids";
    for (const sub of [2, 5, 6, 7, 9, 17, 18]) {
      for (const size of [0, 1, 3, 7]) {
        const { text } = profileJson(cpu, corrupted(cpu, sub, "eax", size), sub);
        const p = file(`small-${sub}-${size}.json`, text);
        for (const args of [
          ["check", "--from", p, "--to", "amd-zen4", "--json"],
          ["check", "--from", "amd-zen4", "--to", p, "--json"],
          ["build", "--cpu", p, "--amx", "-o", join(tmp, "small.bin")],
          ["matrix", p, "intel-skylake-server", "--json"],
        ]) {
          const r = await cli(args, { input: p });
          assert.ok([0, 1, 2, 3].includes(r.code), `${args.join(" ")}: ${r.err}`);
        }
      }
    }
  });

  test("sizes up to the bound are read; the largest real area (AMX) is well inside it", () => {
    const amx = computeLayout(builtinProfile("intel-sapphirerapids"), { amx: true });
    assert.ok(amx.userSize > 8192 && amx.userSize < MAX_XSAVE_SIZE, String(amx.userSize));
    // A component that ends exactly at the bound is a (strange) CPU, not an error.
    const leaves = corrupted("intel-haswell", 2, "ebx", MAX_XSAVE_SIZE - 256);
    const { text } = profileJson("intel-haswell", leaves, 2);
    const l = computeLayout(profileFromBytes(new TextEncoder().encode(text), "edge.json"));
    assert.equal(l.userSize, MAX_XSAVE_SIZE);
  });

  test("a profile built in code with an impossible sub-leaf leaves the component out, with a warning", () => {
    const leaves = corrupted("intel-haswell", 2, "eax", 0xffffffff);
    const p = profileFromCpuid(new Cpuid(leaves), "in-code", { kind: "builtin" });
    const l = computeLayout(p);
    assert.ok(l.userSize <= MAX_XSAVE_SIZE);
    const ymm = l.components.find((c) => c.bit === 2)!;
    assert.equal(ymm.enabled, false);
    assert.match(ymm.reason ?? "", /YMM is 4294967295 bytes/);
    assert.ok(l.warnings.some((w) => w.includes("YMM is left out")));
  });
});

// ---------------------------------------------------------------------------------------------
// ELF cores: a live kernel frame on a thread's stack, and the same core with segments that
// overlap or leave a hole in the frame.

/** A kernel-written frame (amd-zen4) on a stack at STACK, live for a thread whose sp is at it. */
function liveFrame() {
  const f = liveStack("amd-zen4");
  assert.equal(
    fpstateForInterruptedRsp(
      f.fpstate + BigInt(f.layout.frame.extendedSize) + 128n,
      f.layout.frame.extendedSize,
    ),
    f.fpstate,
  );
  return f;
}

/** The core of one thread (sp at the frame) with a text segment and the stack cut into `loads`. */
function frameCore(cut?: { from: number; to: number }): Uint8Array {
  const f = liveFrame();
  const notes = [
    { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(4242, f.frame, TEXT + 0x80n) },
    { owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(f.layout.userSize, f.layout.xcr0) },
  ];
  const loads: LoadSpec[] = [{ vaddr: TEXT, data: new Uint8Array(0x1000), flags: 5 }];
  if (!cut) loads.push({ vaddr: STACK, data: f.stack });
  else {
    loads.push({ vaddr: STACK, data: f.stack.subarray(0, cut.from) });
    loads.push({ vaddr: STACK + BigInt(cut.to), data: f.stack.subarray(cut.to) });
  }
  return buildCore(notes, loads);
}

const PHDR = (i: number) => 64 + 56 * i;

describe("ELF cores: overlapping segments and frames with holes", () => {
  test("control: the generated core holds one live, high-confidence frame", async () => {
    const p = file("frame.core", frameCore());
    const r = await cli(["scan", p, "--json"]);
    assert.equal(r.code, 0, r.err);
    const frames = JSON.parse(r.out).frames;
    assert.equal(frames.length, 1);
    assert.equal(frames[0].confidence, "high");
    assert.equal(frames[0].fpstate, `0x${liveFrame().fpstate.toString(16)}`);
    const c = await cli(["check", "--core", p, "--to", "intel-sapphirerapids", "--json"]);
    assert.ok([0, 1, 3].includes(c.code), c.err);
  });

  test("elf-overlapping-pt-load: two PT_LOADs at the same address, and two sharing file bytes", async () => {
    const base = frameCore();
    const same = Uint8Array.from(base);
    const dv = new DataView(same.buffer);
    // Segment 2 (the stack) moved onto segment 1 (the text).
    dv.setBigUint64(PHDR(2) + 16, TEXT, true);
    const p = file("overlap.core", same);
    const err = await refused(["scan", p], p);
    assert.match(err, /phdrs\[2\]\/p_vaddr: PT_LOAD segments 1 and 2 overlap/);
    await refused(["check", "--core", p, "--to", "amd-zen2"], p);

    const shared = Uint8Array.from(base);
    const sv = new DataView(shared.buffer);
    sv.setBigUint64(PHDR(2) + 8, sv.getBigUint64(PHDR(1) + 8, true), true);
    const q = file("shared.core", shared);
    assert.match(
      await refused(["scan", q], q),
      /phdrs\[2\]\/p_offset: PT_LOAD segments 1 and 2 share file bytes/,
    );
  });

  test("elf-legacy-area-hole: the first 32 bytes of a live frame's FPU area are not in the core", async () => {
    const off = Number(liveFrame().fpstate - STACK);
    const p = file("legacy-hole.core", frameCore({ from: off, to: off + 32 }));
    const r = await cli(["scan", p, "--json", "--all"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.frames.length, 0);
    assert.ok(JSON.stringify(doc).includes("not all present"), r.out.slice(0, 2000));
    await cli(["check", "--core", p, "--to", "intel-sapphirerapids"]);
  });

  test("elf-xsave-area-hole: 32 bytes missing inside a live frame's XSAVE area", async () => {
    const off = Number(liveFrame().fpstate - STACK) + 1024;
    const p = file("xsave-hole.core", frameCore({ from: off, to: off + 32 }));
    const r = await cli(["check", "--core", p, "--to", "intel-sapphirerapids", "--json"]);
    assert.ok([0, 1, 3].includes(r.code), r.err);
    const s = await cli(["scan", p, "--json"]);
    assert.equal(JSON.parse(s.out).frames.length, 0);
  });

  test("20,000 PT_LOADs over the same bytes are refused; 20,000 small disjoint ones are read", async () => {
    const N = 20_000;
    const make = (sameBytes: boolean) => {
      const names = noteBytes([
        { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(7, 0x7fff_0000_0000n) },
        { owner: "CORE", type: NT_FILE, desc: fileNote(N) },
      ]);
      const phnum = 1 + N;
      const noteOff = 64 + 56 * phnum;
      const dataOff = noteOff + names.length;
      const size = dataOff + (sameBytes ? 64 : 64 * N);
      const b = new Uint8Array(size);
      b.set(frameCore().subarray(0, 64));
      const dv = new DataView(b.buffer);
      dv.setUint16(56, phnum, true);
      const ph = (i: number, type: number, off: number, vaddr: bigint, sz: number) => {
        dv.setUint32(PHDR(i), type, true);
        dv.setUint32(PHDR(i) + 4, 6, true);
        dv.setBigUint64(PHDR(i) + 8, BigInt(off), true);
        dv.setBigUint64(PHDR(i) + 16, vaddr, true);
        dv.setBigUint64(PHDR(i) + 32, BigInt(sz), true);
        dv.setBigUint64(PHDR(i) + 40, BigInt(sz), true);
      };
      ph(0, 4, noteOff, 0n, names.length);
      b.set(names, noteOff);
      for (let i = 0; i < N; i++)
        ph(1 + i, 1, sameBytes ? dataOff : dataOff + 64 * i, 0x1000_0000n + BigInt(i) * 0x1000n, 64);
      return b;
    };
    const p = file("same-bytes.core", make(true));
    assert.match(await refused(["scan", p], p), /share file bytes/);
    const q = file("many-loads.core", make(false));
    const r = await cli(["scan", q, "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).frames.length, 0);
  });
});

/** NT_FILE naming `n` one-page mappings that are not among the core's segments. */
function fileNote(n: number): Uint8Array {
  const names = "/lib/x.so\0".repeat(n);
  const b = new Uint8Array(16 + 24 * n + names.length);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(n), true);
  dv.setBigUint64(8, 4096n, true);
  for (let i = 0; i < n; i++) {
    dv.setBigUint64(16 + 24 * i, 0x5000_0000n + BigInt(i) * 0x2000n, true);
    dv.setBigUint64(16 + 24 * i + 8, 0x5000_1000n + BigInt(i) * 0x2000n, true);
  }
  for (let i = 0; i < names.length; i++) b[16 + 24 * n + i] = names.charCodeAt(i);
  return b;
}

// ---------------------------------------------------------------------------------------------
// CRIU images.

/** A CRIU image: header magics, then each payload with its u32 size. */
function criuImage(head: number, type: number, payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(8 + payloads.reduce((n, e) => n + 4 + e.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, head, true);
  dv.setUint32(4, type, true);
  let o = 8;
  for (const e of payloads) {
    dv.setUint32(o, e.length, true);
    out.set(e, o + 4);
    o += 4 + e.length;
  }
  return out;
}

describe("CRIU: counts Linux and CRIU cannot produce", () => {
  test("a STATS image with a million empty entries is refused at its second entry", async () => {
    // Every entry has size 0: the image is its header and a million zero words.
    const img = new Uint8Array(8 + 4 * 1e6);
    img.set(criuImage(IMG_SERVICE_MAGIC, IMAGE_MAGICS.STATS!, []));
    assert.throws(
      () => parseImage(img, "stats-dump"),
      (e: InvalidDataError) => e instanceof InvalidDataError && e.path === "entries/1" && e.offset === 12,
    );
    const p = file("stats-dump", img);
    assert.match(await refused(["criu", "show", p], p), /a STATS image holds one entry/);
    // One entry is a STATS image.
    const one = file("stats-one", criuImage(IMG_SERVICE_MAGIC, IMAGE_MAGICS.STATS!, [new Uint8Array(0)]));
    assert.equal((await cli(["criu", "show", one, "--json"])).code, 0);
  });

  test("a pstree naming one thread 100,000 times is refused before any thread's image is read", async () => {
    const pid = 4242;
    const pstree = (entries: { pid: number; threads: number[] }[]) =>
      criuImage(
        IMG_COMMON_MAGIC,
        IMAGE_MAGICS.PSTREE!,
        entries.map((e) =>
          toBinary(
            pstree_entrySchema,
            create(pstree_entrySchema, { ...e, ppid: 0, pgid: e.pid, sid: e.pid }),
          ),
        ),
      );
    const cases: [string, { pid: number; threads: number[] }[], RegExp][] = [
      [
        "dup",
        [{ pid, threads: new Array(100_000).fill(pid) }],
        /entries\/0\/threads\/1: thread 4242 is listed twice/,
      ],
      [
        "shared",
        [
          { pid, threads: [pid, 7] },
          { pid: 7, threads: [7] },
        ],
        /entries\/1\/threads\/0: thread 7 is listed twice/,
      ],
      [
        "leader",
        [{ pid, threads: [5, 6] }],
        /entries\/0\/threads: process 4242 is not among its own threads/,
      ],
    ];
    for (const [name, entries, why] of cases) {
      const dir = join(tmp, `${n++}-${name}`);
      mkdirSync(dir);
      const img = pstree(entries);
      writeFileSync(join(dir, "pstree.img"), img);
      if (name === "dup") assert.ok(img.length > 200_000 && img.length < 500_000, String(img.length));
      assert.match(await refused(["scan", dir], join(dir, "pstree.img")), why);
      await refused(["check", "--checkpoint", dir, "--to", "amd-zen4"], join(dir, "pstree.img"));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Large names and documents: the work is bounded by what is used, not by what the input holds.

/** Peak memory a run may add (the contract's 200 MB for the whole process, less node itself). */
const PEAK_GROWTH = 160 * 2 ** 20;

async function boundedRun(args: string[], input: string): Promise<number> {
  const w = await measureWork(() => cli(args, { input }));
  assert.ok(w.peakGrowth <= PEAK_GROWTH, `sigframe ${args.join(" ")} raised peak memory by ${w.peakGrowth}`);
  return w.result.code;
}

describe("names and documents far larger than any real one", () => {
  test("a core with a 60 MiB note name: the owner is decoded up to PATH_MAX bytes", async () => {
    const name = "N".repeat(60 * 2 ** 20);
    const core = buildCore([
      { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(100, 0x7000_0100n) },
      { owner: name, type: 1, desc: new Uint8Array(8) },
    ]);
    const parsed = parseElfCore(bytesSource(core));
    const long = parsed.notes[1]!;
    assert.ok(long.owner.length < LIMITS.maxName + 64, String(long.owner.length));
    assert.match(long.owner, /… \(62914560 bytes\)$/);
    assert.equal(parsed.threads.length, 1);
    const p = file("long-name.core", core);
    for (const args of [
      ["scan", p],
      ["layout", p],
      ["check", "--core", p, "--to", "amd-zen4"],
    ])
      assert.notEqual(await boundedRun(args, p), 70);
  });

  test("NT_FILE: over CORE_FILE_NOTE_SIZE_MAX is refused; a 15 MiB path is decoded up to PATH_MAX", async () => {
    const fileNoteWith = (path: string) => {
      const b = new Uint8Array(16 + 24 + path.length + 1);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, 1n, true);
      dv.setBigUint64(8, 4096n, true);
      dv.setBigUint64(16, 0x1000n, true);
      dv.setBigUint64(24, 0x2000n, true);
      for (let i = 0; i < path.length; i++) b[40 + i] = path.charCodeAt(i);
      return b;
    };
    const coreWith = (path: string) =>
      buildCore([
        { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(100, 0x7000_0100n) },
        { owner: "CORE", type: NT_FILE, desc: fileNoteWith(path) },
      ]);
    const big = coreWith(`/${"x".repeat(LIMITS.maxFileNote)}`);
    assert.throws(
      () => parseElfCore(bytesSource(big)),
      (e: InvalidDataError) => e instanceof InvalidDataError && /CORE_FILE_NOTE_SIZE_MAX/.test(e.message),
    );
    const p = file("file-note.core", big);
    assert.match(await refused(["scan", p], p), /NT_FILE is \d+ bytes; Linux writes at most 16777216/);

    const long = coreWith(`/${"y".repeat(15 * 2 ** 20)}`);
    const parsed = parseElfCore(bytesSource(long));
    assert.ok(parsed.files!.entries[0]!.name.length < LIMITS.maxName + 64);
    const q = file("long-path.core", long);
    assert.equal(await boundedRun(["scan", q, "--json"], q), 0);
  });

  test("a 62 MiB JSON array as a profile is refused before it is parsed", async () => {
    const text = `[${"0,".repeat(31 * 2 ** 20)}0]`;
    const p = file("array.json", text);
    const w = await measureWork(() => cli(["layout", p], { input: p }));
    assert.equal(w.result.code, 2);
    assert.match(
      w.result.err,
      new RegExp(`a JSON profile of ${text.length} bytes: .* under ${MAX_JSON_PROFILE_BYTES}`),
    );
    assert.ok(w.peakGrowth <= PEAK_GROWTH, String(w.peakGrowth));
    // Also as the other side of check and in a matrix.
    await refused(["check", "--from", "amd-zen4", "--to", p], p);
    await refused(["matrix", p, "amd-zen4"], p);
  });

  test("a STATE.json over 1 MiB is refused before it is parsed", async () => {
    const p = file("state.json", `{"rip": "0x1", "pad": [${"0,".repeat(MAX_STATE_BYTES)}0]}`);
    const out = join(tmp, "s.bin");
    const r = await cli(["build", "--cpu", "amd-zen4", "--state", p, "-o", out], { input: p, output: out });
    assert.equal(r.code, 2);
  });
});
