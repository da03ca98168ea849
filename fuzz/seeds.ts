/**
 * Seed inputs the project builds itself, so a campaign runs without ../shared: profiles of every
 * built-in CPU (sigframe-profile/1, cpuid-corpus JSON, `cpuid -r` text), frames of every style,
 * ELF cores and a CRIU checkpoint holding a live kernel frame on a thread's stack, raw stack
 * images, STATE.json documents, and checkpoint archives and compressed cores (tar, gzip, zstd and
 * lz4 with stored blocks, written here). The shared fixtures and the CPUID corpus are added by
 * families.ts where present.
 */
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import {
  create,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { concat } from "../src/core/archive/streams.ts";
import type { CpuidLeaf } from "../src/core/cpuid/cpuid.ts";
import { core_entrySchema } from "../src/core/criu/gen/core_pb.ts";
import { cpuinfo_entrySchema, cpuinfo_x86_entrySchema } from "../src/core/criu/gen/cpuinfo_pb.ts";
import { inventory_entrySchema } from "../src/core/criu/gen/inventory_pb.ts";
import { mm_entrySchema } from "../src/core/criu/gen/mm_pb.ts";
import { pagemap_entrySchema, pagemap_headSchema } from "../src/core/criu/gen/pagemap_pb.ts";
import { pstree_entrySchema } from "../src/core/criu/gen/pstree_pb.ts";
import { vma_entrySchema } from "../src/core/criu/gen/vma_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC, INVENTORY_MAGIC } from "../src/core/criu/image.ts";
import { type Profile, profileSummary } from "../src/core/profile.ts";
import { BUILTIN_PROFILES } from "../src/core/profiles/builtins.ts";
import { builtinProfile } from "../src/core/profiles/detect.ts";
import { profileToJson } from "../src/core/profiles/json.ts";
import { fpstateForInterruptedRsp } from "../src/core/scan/geometry.ts";
import { buildFrame } from "../src/core/sigframe/build.ts";
import { KERNEL_FPSTATE_OFFSET } from "../src/core/sigframe/fields.ts";
import { buildIa32Frame } from "../src/core/sigframe/ia32-build.ts";
import { emptyState, type RegisterState, setRegister } from "../src/core/sigframe/state.ts";
import { computeLayout, type XsaveLayout } from "../src/core/xsave/layout.ts";
import { auxv, prstatus as basePrstatus, buildCore, layoutNote } from "../test/core/elf/build.ts";
import { compelDumpLog } from "../test/helpers/criu-checkpoint.ts";
import { tarOf } from "../test/helpers/tar.ts";

export { tarOf };

const enc = new TextEncoder();
const hex8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

// ---------------------------------------------------------------------------------------------
// Profiles.

export function profileJsonBytes(p: Profile): Uint8Array {
  return enc.encode(JSON.stringify(profileToJson(p), null, 1));
}

/** A profile's leaves in the cpuid-corpus schema. */
export function corpusJsonBytes(p: Profile): Uint8Array {
  const s = profileSummary(p);
  const doc: Record<string, unknown> = {
    name: s.brand ?? s.name,
    vendor: s.vendor,
    family: s.family,
    model: s.model,
    stepping: s.stepping,
    leaves: p.cpuid.leaves.map((l) => ({
      leaf: hex8(l.leaf),
      subleaf: hex8(l.subleaf),
      eax: hex8(l.eax),
      ebx: hex8(l.ebx),
      ecx: hex8(l.ecx),
      edx: hex8(l.edx),
    })),
  };
  if (p.xcr0 !== undefined) doc.xgetbv = { xcr0: `0x${p.xcr0.toString(16)}` };
  return enc.encode(JSON.stringify(doc, null, 2));
}

/** `cpuid -r` text of one or more CPUs with these leaves. */
export function cpuidRBytes(leaves: readonly CpuidLeaf[], cpus = 1): Uint8Array {
  const lines: string[] = [];
  for (let c = 0; c < cpus; c++) {
    lines.push(cpus === 1 && c === 0 ? "CPU:" : `CPU ${c}:`);
    for (const l of leaves)
      lines.push(
        `   ${hex8(l.leaf)} 0x${l.subleaf.toString(16).padStart(2, "0")}: eax=${hex8(l.eax)} ebx=${hex8(l.ebx)} ecx=${hex8(l.ecx)} edx=${hex8(l.edx)}`,
      );
  }
  return enc.encode(`${lines.join("\n")}\n`);
}

export const BUILTIN_NAMES: readonly string[] = BUILTIN_PROFILES.map((p) => p.name);

// ---------------------------------------------------------------------------------------------
// Frames.

/** A register state with values in every kind of register. */
export function sampleState(): RegisterState {
  const st = emptyState();
  setRegister(st, "rip", 0x401000n);
  setRegister(st, "rsp", 0x7ffffffde100n);
  setRegister(st, "rax", 0x1234n);
  setRegister(st, "eflags", 0x246n);
  setRegister(st, "xmm1", 0x0123456789abcdef0123456789abcdefn);
  setRegister(st, "ymm3", (1n << 255n) | 0x77n);
  setRegister(st, "zmm17", (1n << 511n) | 0xabn);
  setRegister(st, "k1", 0xffn);
  setRegister(st, "mxcsr", 0x1f80n);
  return st;
}

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
  /** The CPU the bytes were built for. */
  cpu: string;
}

/** Frames of every style for a few CPUs, FPU-area-only images and ia32 frames. */
export function frameSeeds(): NamedBytes[] {
  const out: NamedBytes[] = [];
  const st = sampleState();
  for (const cpu of ["amd-zen4", "intel-sapphirerapids", "intel-haswell", "amd-zen2"]) {
    const layout = computeLayout(builtinProfile(cpu));
    for (const style of ["kernel", "criu", "pwntools"] as const)
      out.push({ name: `${cpu}-${style}.bin`, bytes: buildFrame({ style, layout, state: st }).bytes, cpu });
    out.push({
      name: `${cpu}-fpstate.bin`,
      bytes: buildFrame({ style: "kernel", layout, state: st, fpstateOnly: true }).bytes,
      cpu,
    });
  }
  const amx = computeLayout(builtinProfile("intel-sapphirerapids"), { amx: true });
  out.push({
    name: "amx-kernel.bin",
    bytes: buildFrame({ style: "kernel", layout: amx, state: st }).bytes,
    cpu: "intel-sapphirerapids",
  });
  const zen4 = computeLayout(builtinProfile("amd-zen4"));
  for (const kind of ["rt", "sigframe"] as const) {
    try {
      out.push({
        name: `ia32-${kind}.bin`,
        bytes: buildIa32Frame({ layout: zen4, kind }).bytes,
        cpu: "amd-zen4",
      });
    } catch {
      // An ia32 frame kind this build does not have.
    }
  }
  return out;
}

/** STATE.json documents. */
export function stateSeeds(): Uint8Array[] {
  const docs: Record<string, unknown>[] = [
    { rip: "0x401000", rsp: "0x7ffffffde100", k1: "0xff", ymm3: "0x1234", zmm17: `0x${"ab".repeat(64)}` },
    { rax: 1, rbx: "0x2", eflags: "0x246", mxcsr: "0x1f80", fcw: "0x37f", xmm0: `0x${"11".repeat(16)}` },
    { uc_flags: "0x7", uc_sigmask: "0xfffffffe", si_signo: 11, pretcode: "0x401234", cs: "0x33", ss: "0x2b" },
    { pkru: "0x55555554", k7: "0x1", zmm31: `0x${"ff".repeat(64)}`, st0: "0x3fff8000000000000000" },
    {},
  ];
  return docs.map((d) => enc.encode(JSON.stringify(d, null, 2)));
}

// ---------------------------------------------------------------------------------------------
// A live kernel frame on a thread's stack: in an ELF core, a raw image and a CRIU checkpoint.

export const STACK = 0x7ffd_0000_0000n;
export const STACK_SIZE = 0x4000;
export const TEXT = 0x40_0000n;
const TID = 4242;

export interface LiveStack {
  layout: XsaveLayout;
  /** The stack's bytes, the frame at `frame`. */
  stack: Uint8Array;
  /** &rt_sigframe: the thread's sp at handler entry. */
  frame: bigint;
  fpstate: bigint;
}

/** A stack (at STACK) holding a kernel-written frame of `cpu`, live for a thread whose sp is `frame`. */
export function liveStack(cpu: string, amx = false): LiveStack {
  const layout = computeLayout(builtinProfile(cpu), amx ? { amx: true } : {});
  const ext = layout.frame.extendedSize;
  const fpstate = STACK + BigInt(STACK_SIZE - ext - 512) - ((STACK + BigInt(STACK_SIZE - ext - 512)) % 64n);
  const st = sampleState();
  const rsp = fpstate + BigInt(ext) + 128n;
  if (fpstateForInterruptedRsp(rsp, ext) !== fpstate) throw new Error("seed: frame placement");
  setRegister(st, "rsp", rsp);
  setRegister(st, "rip", TEXT + 0x100n);
  setRegister(st, "pretcode", TEXT + 0x200n);
  setRegister(st, "si_signo", 10n);
  const base = fpstate - BigInt(KERNEL_FPSTATE_OFFSET);
  const built = buildFrame({ style: "kernel", layout, state: st, base });
  const stack = new Uint8Array(STACK_SIZE);
  stack.set(built.bytes.subarray(0, STACK_SIZE - Number(base - STACK)), Number(base - STACK));
  return { layout, stack, frame: base, fpstate };
}

interface Note {
  owner: string;
  type: number;
  desc: Uint8Array;
}

/** NT_PRSTATUS of a 64-bit user thread stopped at `rip` with stack pointer `rsp`. */
function prstatus(tid: number, rsp: bigint, rip: bigint): Uint8Array {
  const d = basePrstatus(tid, rsp, rip);
  const dv = new DataView(d.buffer);
  dv.setBigUint64(112 + 17 * 8, 0x33n, true);
  dv.setBigUint64(112 + 18 * 8, 0x246n, true);
  dv.setBigUint64(112 + 20 * 8, 0x2bn, true);
  return d;
}

function xstateNote(layout: XsaveLayout): Uint8Array {
  const d = new Uint8Array(layout.userSize);
  const dv = new DataView(d.buffer);
  dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, 0x1f80, true);
  dv.setUint32(28, 0xffff, true);
  dv.setBigUint64(464, layout.xcr0, true);
  dv.setBigUint64(512, layout.xcr0 & 0xffn, true);
  return d;
}

function xsaveLayoutNote(layout: XsaveLayout): Uint8Array {
  return layoutNote(
    layout.components.filter((c) => c.enabled && c.bit >= 2).map((c) => [c.bit, c.size, c.offset]),
  );
}

function fileNote(entries: { start: bigint; end: bigint; name: string }[]): Uint8Array {
  const names = entries.map((e) => `${e.name}\0`).join("");
  const d = new Uint8Array(16 + 24 * entries.length + names.length);
  const dv = new DataView(d.buffer);
  dv.setBigUint64(0, BigInt(entries.length), true);
  dv.setBigUint64(8, 4096n, true);
  entries.forEach((e, i) => {
    dv.setBigUint64(16 + 24 * i, e.start, true);
    dv.setBigUint64(16 + 24 * i + 8, e.end, true);
  });
  for (let i = 0; i < names.length; i++) d[16 + 24 * entries.length + i] = names.charCodeAt(i);
  return d;
}

/** A two-thread core with a live frame of `cpu` on the first thread's stack. */
export function frameCore(cpu: string, amx = false): Uint8Array {
  const s = liveStack(cpu, amx);
  const notes: Note[] = [
    { owner: "CORE", type: 1, desc: prstatus(TID, s.frame, TEXT + 0x80n) },
    { owner: "CORE", type: 2, desc: xstateNote(s.layout).subarray(0, 512) },
    { owner: "LINUX", type: 0x202, desc: xstateNote(s.layout) },
    { owner: "CORE", type: 1, desc: prstatus(TID + 1, STACK + 0x800n, TEXT + 0x90n) },
    { owner: "LINUX", type: 0x202, desc: xstateNote(s.layout) },
    {
      owner: "CORE",
      type: 6,
      desc: auxv([
        [6, 4096n],
        [51, 3376n],
        [16, 0x178bfbffn],
        [25, STACK + 0x3f00n],
      ]),
    },
    {
      owner: "CORE",
      type: 0x46494c45,
      desc: fileNote([{ start: TEXT, end: TEXT + 0x1000n, name: "/usr/bin/fuzz" }]),
    },
    { owner: "LINUX", type: 0x205, desc: xsaveLayoutNote(s.layout) },
  ];
  return buildCore(notes, [
    { vaddr: TEXT, data: new Uint8Array(0x1000), flags: 5 },
    { vaddr: STACK, data: s.stack, flags: 6 },
  ]);
}

// ---------------------------------------------------------------------------------------------
// CRIU images and a checkpoint.

/** A message with every required field set (zero values), then `init` on top. */
export function filled<D extends DescMessage>(
  schema: D,
  init: MessageInitShape<D> = {} as MessageInitShape<D>,
): MessageShape<D> {
  const base: Record<string, unknown> = {};
  for (const f of schema.fields) {
    if (f.presence !== FeatureSet_FieldPresence.LEGACY_REQUIRED) continue;
    if (f.fieldKind === "scalar")
      base[f.localName] =
        f.scalar === ScalarType.STRING
          ? ""
          : f.scalar === ScalarType.BOOL
            ? false
            : f.scalar === ScalarType.BYTES
              ? new Uint8Array(0)
              : [
                    ScalarType.INT64,
                    ScalarType.UINT64,
                    ScalarType.SINT64,
                    ScalarType.FIXED64,
                    ScalarType.SFIXED64,
                  ].includes(f.scalar)
                ? 0n
                : 0;
    else if (f.fieldKind === "enum") base[f.localName] = f.enum.values[0]?.number ?? 0;
    else if (f.fieldKind === "message") base[f.localName] = filled(f.message);
  }
  const msg = create(schema, { ...base, ...(init as object) } as MessageInitShape<D>);
  // Nested messages given in `init` get their required fields too.
  for (const f of schema.fields) {
    const rec = msg as unknown as Record<string, unknown>;
    if (f.fieldKind === "message" && rec[f.localName] !== undefined)
      rec[f.localName] = filled(f.message, rec[f.localName] as MessageInitShape<DescMessage>);
  }
  return msg;
}

/** A CRIU image: magics, then each payload with its u32 size. */
export function criuImage(magic: string, payloads: Uint8Array[]): Uint8Array {
  const head = magic === "INVENTORY" ? 4 : 8;
  const out = new Uint8Array(head + payloads.reduce((n, e) => n + 4 + e.length, 0));
  const dv = new DataView(out.buffer);
  if (magic === "INVENTORY") dv.setUint32(0, INVENTORY_MAGIC, true);
  else {
    dv.setUint32(0, IMG_COMMON_MAGIC, true);
    dv.setUint32(4, IMAGE_MAGICS[magic]!, true);
  }
  let o = head;
  for (const p of payloads) {
    dv.setUint32(o, p.length, true);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

function leafOf(p: Profile, leaf: number, sub = 0): CpuidLeaf {
  return p.cpuid.get(leaf, sub) ?? { leaf, subleaf: sub, eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/** cpuinfo.img of a built-in CPU: compel's capability words are raw CPUID registers. */
export function cpuinfoImage(cpu: string): Uint8Array {
  const p = builtinProfile(cpu);
  const l = computeLayout(p);
  const words = new Array(19).fill(0);
  words[0] = leafOf(p, 1).edx;
  words[1] = leafOf(p, 0x80000001).edx;
  words[4] = leafOf(p, 1).ecx;
  words[6] = leafOf(p, 0x80000001).ecx;
  words[9] = leafOf(p, 7).ebx;
  words[10] = leafOf(p, 0xd, 1).eax;
  words[11] = leafOf(p, 7).ecx;
  words[18] = leafOf(p, 7).edx;
  const x = filled(cpuinfo_x86_entrySchema, {
    vendorId: p.vendor === "GenuineIntel" ? 1 : p.vendor === "AuthenticAMD" ? 2 : 0,
    cpuFamily: p.family,
    model: p.model,
    stepping: p.stepping,
    capabilityVer: 2,
    capability: words,
    modelId: p.brand ?? p.name,
    xfeaturesMask: l.xcr0 & ~0xan,
    xsaveSize: l.maxUserSize,
    xsaveSizeMax: l.maxSize,
  });
  return criuImage("CPUINFO", [
    toBinary(cpuinfo_entrySchema, filled(cpuinfo_entrySchema, { x86Entry: [x] })),
  ]);
}

const PID = 4242;

/** A one-process, two-thread checkpoint with a live frame of `cpu` on the first thread's stack. */
export function checkpointFiles(cpu: string): Map<string, Uint8Array> {
  const s = liveStack(cpu);
  const files = new Map<string, Uint8Array>();
  const tids = [PID, PID + 1];
  files.set(
    "pstree.img",
    criuImage("PSTREE", [
      toBinary(
        pstree_entrySchema,
        filled(pstree_entrySchema, { pid: PID, ppid: 0, pgid: PID, sid: PID, threads: tids }),
      ),
    ]),
  );
  tids.forEach((tid, i) => {
    const core = filled(core_entrySchema, {
      mtype: 1,
      threadInfo: {
        gpregs: {
          sp: i === 0 ? s.frame : STACK + 0x800n,
          ip: TEXT + 0x80n,
          cs: 0x33n,
          ss: 0x2bn,
          flags: 0x246n,
          mode: 1,
        },
        fpregs: {
          cwd: 0x37f,
          mxcsr: 0x1f80,
          mxcsrMask: 0xffff,
          stSpace: new Array(32).fill(0),
          xmmSpace: new Array(64).fill(0),
          xsave: { xstateBv: 7n, ymmhSpace: new Array(64).fill(0) },
        },
      },
      tc: { taskState: 1, comm: "fuzz" },
      threadCore: { sas: { ssSp: 0n, ssSize: 0n, ssFlags: 2 } },
    });
    files.set(`core-${tid}.img`, criuImage("CORE", [toBinary(core_entrySchema, core)]));
  });
  const vma = (start: bigint, end: bigint, prot: number, status: number) =>
    filled(vma_entrySchema, { start, end, prot, flags: 0x22, status, fd: -1n, shmid: 0n, pgoff: 0n });
  const mm = filled(mm_entrySchema, {
    mmStartCode: TEXT,
    mmEndCode: TEXT + 0x1000n,
    mmStartStack: STACK + BigInt(STACK_SIZE) - 0x100n,
    mmStartBrk: 0x1000000n,
    mmBrk: 0x1000000n,
    exeFileId: 1,
    vmas: [vma(TEXT, TEXT + 0x1000n, 5, 0x1), vma(STACK, STACK + BigInt(STACK_SIZE), 3, 0x3)],
  });
  files.set(`mm-${PID}.img`, criuImage("MM", [toBinary(mm_entrySchema, mm)]));
  files.set(
    `pagemap-${PID}.img`,
    criuImage("PAGEMAP", [
      toBinary(pagemap_headSchema, filled(pagemap_headSchema, { pagesId: 1 })),
      toBinary(
        pagemap_entrySchema,
        filled(pagemap_entrySchema, { vaddr: STACK, nrPages: BigInt(STACK_SIZE / 4096), flags: 4 }),
      ),
    ]),
  );
  files.set("pages-1.img", s.stack);
  files.set(
    "inventory.img",
    criuImage("INVENTORY", [
      toBinary(inventory_entrySchema, filled(inventory_entrySchema, { imgVersion: 2 })),
    ]),
  );
  files.set("cpuinfo.img", cpuinfoImage(cpu));
  return files;
}

// ---------------------------------------------------------------------------------------------
// Archives and compressed cores.

/** A Podman-style checkpoint archive: images under checkpoint/, metadata beside them. */
export function checkpointArchive(
  files: Map<string, Uint8Array>,
  extra: readonly [string, Uint8Array][] = [],
): Uint8Array {
  const entries: [string, Uint8Array][] = [...files].map(([n, b]) => [`checkpoint/${n}`, b]);
  entries.push(...extra);
  entries.push(["config.dump", enc.encode('{"id":"fuzz","name":"fuzz","rootfsImageName":"fuzz:latest"}')]);
  entries.push(["spec.dump", enc.encode('{"ociVersion":"1.0.0","annotations":{}}')]);
  return tarOf(entries);
}

export function gzip(b: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(b));
}

/** A zstd frame of raw (stored) blocks: the format, without compressing (RFC 8878 §3.1.1). */
export function zstdStored(b: Uint8Array): Uint8Array {
  const BLOCK = 128 * 1024;
  // Frame header descriptor 0 (no content size, no checksum, no dictionary), window 2^17.
  const out: Uint8Array[] = [Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3)];
  let o = 0;
  do {
    const n = Math.min(BLOCK, b.length - o);
    const last = o + n >= b.length ? 1 : 0;
    const hdr = n * 8 + last; // Block_Type 0 (Raw_Block) in bits 1-2
    out.push(Uint8Array.of(hdr & 0xff, (hdr >>> 8) & 0xff, (hdr >>> 16) & 0xff), b.subarray(o, o + n));
    o += n;
  } while (o < b.length);
  return concat(out);
}

/** An LZ4 frame of uncompressed blocks (lz4_Frame_format.md: block size high bit set). */
export function lz4Stored(b: Uint8Array): Uint8Array {
  // FLG: version 01, block independence, no checksums; BD: 64 KiB blocks; HC: (xxh32 >> 8) & 0xff.
  const flg = 0x60;
  const bd = 0x40;
  const hc = (xxh32(Uint8Array.of(flg, bd)) >>> 8) & 0xff;
  const out: Uint8Array[] = [Uint8Array.of(0x04, 0x22, 0x4d, 0x18, flg, bd, hc)];
  for (let o = 0; o < b.length; o += 65536) {
    const n = Math.min(65536, b.length - o);
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, (n | 0x80000000) >>> 0, true);
    out.push(h, b.subarray(o, o + n));
  }
  out.push(new Uint8Array(4));
  return concat(out);
}

/** xxHash32 with seed 0 (for the LZ4 frame header checksum). */
function xxh32(b: Uint8Array): number {
  const P1 = 0x9e3779b1;
  const P2 = 0x85ebca77;
  const P3 = 0xc2b2ae3d;
  const P4 = 0x27d4eb2f;
  const P5 = 0x165667b1;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let i = 0;
  let h: number;
  const u32 = (k: number) => (b[k]! | (b[k + 1]! << 8) | (b[k + 2]! << 16) | (b[k + 3]! << 24)) >>> 0;
  if (b.length >= 16) {
    let v1 = (P1 + P2) >>> 0;
    let v2 = P2;
    let v3 = 0;
    let v4 = (0 - P1) >>> 0;
    for (; i + 16 <= b.length; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32(i), P2)) >>> 0, 13), P1) >>> 0;
      v2 = Math.imul(rotl((v2 + Math.imul(u32(i + 4), P2)) >>> 0, 13), P1) >>> 0;
      v3 = Math.imul(rotl((v3 + Math.imul(u32(i + 8), P2)) >>> 0, 13), P1) >>> 0;
      v4 = Math.imul(rotl((v4 + Math.imul(u32(i + 12), P2)) >>> 0, 13), P1) >>> 0;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else h = P5;
  h = (h + b.length) >>> 0;
  for (; i + 4 <= b.length; i += 4) h = Math.imul(rotl((h + Math.imul(u32(i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < b.length; i++) h = Math.imul(rotl((h + Math.imul(b[i]!, P5)) >>> 0, 11), P1) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, P2) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, P3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The bytes compressed by Debian's `tool` (zstd, xz, lz4: real compressed blocks, entropy tables
 * and checksums, which the stored forms above do not have), or undefined where it is not installed.
 */
export function compressWith(tool: string, args: readonly string[], b: Uint8Array): Uint8Array | undefined {
  const r = spawnSync(tool, [...args, "-c"], { input: b, maxBuffer: 256 << 20, timeout: 60_000 });
  if (r.error || r.status !== 0) return undefined;
  return new Uint8Array(r.stdout);
}

/** The compressed forms of `b` the readers take, with a file suffix; the tool-made ones where installed. */
export function compressedForms(b: Uint8Array): { label: string; suffix: string; bytes: Uint8Array }[] {
  const out = [
    { label: "gzip", suffix: ".gz", bytes: gzip(b) },
    { label: "zstd (stored blocks)", suffix: ".zst", bytes: zstdStored(b) },
    { label: "lz4 (stored blocks)", suffix: ".lz4", bytes: lz4Stored(b) },
  ];
  const tools: [string, string[], string][] = [
    ["zstd", ["-q", "-3", "--no-check"], ".zst"],
    ["zstd", ["-q", "-19", "--check"], ".zst"],
    ["xz", ["-q", "-T1", "-6"], ".xz"],
    ["xz", ["-q", "-T1", "--check=crc32", "-0"], ".xz"],
    ["lz4", ["-q", "-9", "--content-size"], ".lz4"],
    ["lz4", ["-q", "-1", "-BD", "-B4", "--no-frame-crc"], ".lz4"],
  ];
  for (const [tool, args, suffix] of tools) {
    const bytes = compressWith(tool, args, b);
    if (bytes) out.push({ label: `${tool} ${args.slice(1).join(" ")}`, suffix, bytes });
  }
  return out;
}

/** A CRIU 4 dump.log of `cpu` with compel's `cpu:` lines (the layout runc and crun log at -v4). */
export function dumpLog(cpu: string): Uint8Array {
  const p = builtinProfile(cpu);
  return enc.encode(
    compelDumpLog(computeLayout(p), { vendor: p.vendor, family: p.family, brand: p.brand ?? cpu }),
  );
}
