/**
 * A process made in the test (process-core.ts) as the CRIU images of its checkpoint, as CRIU 4
 * writes them (criu/include/image.h, images/*.proto): pstree, one core image per thread with its
 * registers and XSAVE arrays, mm with its VMAs, pagemap and pages; no cpuinfo.img (container
 * engines do not pass --cpu-cap). `compelDumpLog` writes the `cpu:` lines runc's CRIU logs at
 * level 4. Tests and benches put them in a directory or an archive, without ../shared.
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { core_entry_march, core_entrySchema } from "../../src/core/criu/gen/core_pb.ts";
import { mm_entrySchema } from "../../src/core/criu/gen/mm_pb.ts";
import { pagemap_entrySchema, pagemap_headSchema } from "../../src/core/criu/gen/pagemap_pb.ts";
import { pstree_entrySchema } from "../../src/core/criu/gen/pstree_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../../src/core/criu/image.ts";
import { PE_PRESENT } from "../../src/core/criu/memory.ts";
import type { XsaveLayout } from "../../src/core/xsave/layout.ts";
import type { SimProcess } from "./process-core.ts";

export function image<D extends DescMessage>(
  magic: string,
  schema: D,
  entries: MessageInitShape<D>[],
): Uint8Array {
  const bodies = entries.map((e) => toBinary(schema, create(schema, e)));
  const out = new Uint8Array(8 + bodies.reduce((n, b) => n + 4 + b.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, IMG_COMMON_MAGIC, true);
  dv.setUint32(4, IMAGE_MAGICS[magic]!, true);
  let o = 8;
  for (const b of bodies) {
    dv.setUint32(o, b.length, true);
    out.set(b, o + 4);
    o += 4 + b.length;
  }
  return out;
}

/** Two images of one process tree in one file (pagemap: head, then entries). */
export function concatImages(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length - 8);
  out.set(a);
  out.set(b.subarray(8), a.length);
  return out;
}

const zeros = (n: number) => new Array<number>(n).fill(0);
const zeros64 = (n: number) => new Array<bigint>(n).fill(0n);

const VMA_AREA_REGULAR = 1;
const VMA_AREA_STACK = 1 << 1;
const VMA_ANON_PRIVATE = 1 << 9;
const MAP_PRIVATE_ANONYMOUS = 0x22;

export interface CheckpointOptions {
  /** The process's initial stack (mm_start_stack), named [stack]. */
  mainStack?: bigint;
  comm?: string;
}

/** The images of `p`'s checkpoint, by file name (pages-1.img holds every region's bytes). */
export function criuImages(p: SimProcess, o: CheckpointOptions = {}): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const l = p.layout;
  const has = (bit: number) => ((l.xcr0 >> BigInt(bit)) & 1n) === 1n;
  files.set(
    "pstree.img",
    image("PSTREE", pstree_entrySchema, [
      { pid: p.pid, ppid: 1, pgid: p.pid, sid: p.pid, threads: p.threads.map((t) => t.tid) },
    ]),
  );
  for (const t of p.threads) {
    const gp: Record<string, bigint> = {};
    for (const n of [
      "r15",
      "r14",
      "r13",
      "r12",
      "bp",
      "bx",
      "r11",
      "r10",
      "r9",
      "r8",
      "ax",
      "cx",
      "dx",
      "si",
      "di",
    ])
      gp[n] = 0n;
    const regs = {
      ...gp,
      origAx: 0n,
      ip: t.rip,
      cs: 0x33n,
      flags: 0x246n,
      sp: t.sp,
      ss: 0x2bn,
      fsBase: 0n,
      gsBase: 0n,
      ds: 0n,
      es: 0n,
      fs: 0n,
      gs: 0n,
      mode: 1,
    };
    const xsave = {
      xstateBv: 3n,
      ymmhSpace: has(2) ? zeros(64) : [],
      bndregState: has(3) ? zeros64(8) : [],
      bndcsrState: has(4) ? zeros64(2) : [],
      opmaskReg: has(5) ? zeros64(8) : [],
      zmmUpper: has(6) ? zeros64(64) : [],
      hi16Zmm: has(7) ? zeros64(128) : [],
      pkru: has(9) ? zeros(2) : [],
    };
    const core: MessageInitShape<typeof core_entrySchema> = {
      mtype: core_entry_march.X86_64,
      threadInfo: {
        clearTidAddr: 0n,
        gpregs: regs,
        fpregs: {
          cwd: 0x37f,
          swd: 0,
          twd: 0,
          fop: 0,
          rip: 0n,
          rdp: 0n,
          mxcsr: 0x1f80,
          mxcsrMask: 0xffff,
          stSpace: zeros(32),
          xmmSpace: zeros(64),
          padding: zeros(24),
          xsave,
        },
      },
      threadCore: {
        futexRla: 0n,
        futexRlaLen: 0,
        schedNice: 0,
        schedPolicy: 0,
        blkSigset: 0n,
        comm: o.comm ?? "sim",
        ...(t.altstack ? { sas: { ssSp: t.altstack.sp, ssSize: t.altstack.size, ssFlags: 0 } } : {}),
      },
    };
    if (t.tid === p.pid)
      core.tc = {
        taskState: 1,
        exitCode: 0,
        personality: 0,
        flags: 0,
        blkSigset: 0n,
        comm: o.comm ?? "sim",
      };
    files.set(`core-${t.tid}.img`, image("CORE", core_entrySchema, [core]));
  }
  const regions = [...p.regions].sort((a, b) => (a.start < b.start ? -1 : 1));
  const vmas = regions.map((r) => {
    const end = r.start + BigInt(r.size);
    const stack = o.mainStack !== undefined && o.mainStack >= r.start && o.mainStack < end;
    return {
      start: r.start,
      end,
      pgoff: 0n,
      shmid: 0n,
      prot: r.perm === "r-x" ? 5 : 3,
      flags: MAP_PRIVATE_ANONYMOUS,
      status: VMA_AREA_REGULAR | VMA_ANON_PRIVATE | (stack ? VMA_AREA_STACK : 0),
      fd: -1n,
    };
  });
  const zero = 0n;
  files.set(
    `mm-${p.pid}.img`,
    image("MM", mm_entrySchema, [
      {
        mmStartCode: zero,
        mmEndCode: zero,
        mmStartData: zero,
        mmEndData: zero,
        mmStartStack: o.mainStack ?? zero,
        mmStartBrk: zero,
        mmBrk: zero,
        mmArgStart: zero,
        mmArgEnd: zero,
        mmEnvStart: zero,
        mmEnvEnd: zero,
        exeFileId: 0,
        vmas,
      },
    ]),
  );
  const head = image("PAGEMAP", pagemap_headSchema, [{ pagesId: 1 }]);
  const entries = image(
    "PAGEMAP",
    pagemap_entrySchema,
    regions.map((r) => ({
      vaddr: r.start,
      compatNrPages: 0,
      nrPages: BigInt(r.size / 4096),
      flags: PE_PRESENT,
    })),
  );
  files.set(`pagemap-${p.pid}.img`, concatImages(head, entries));
  const total = regions.reduce((n, r) => n + r.size, 0);
  const pages = new Uint8Array(total);
  let off = 0;
  for (const r of regions) {
    pages.set(r.bytes, off);
    off += r.size;
  }
  files.set("pages-1.img", pages);
  return files;
}

const COMPEL_NAMES = [
  "x87 floating point registers",
  "SSE registers",
  "AVX registers",
  "MPX bounds registers",
  "MPX CSR",
  "AVX-512 opmask",
  "AVX-512 Hi256",
  "AVX-512 ZMM_Hi256",
  "Processor Trace",
  "Protection Keys User registers",
];

/**
 * The lines of a CRIU 4 dump.log around compel's CPU probe (compel/arch/x86/src/lib/cpu.c), for a
 * CPU with this layout: compel's mask clears bits 1 and 3 as its XFEATURE_MASK_SUPERVISOR does.
 */
export function compelDumpLog(
  l: XsaveLayout,
  cpu: { vendor: string; family: number; brand: string },
  kernel = "6.18.0",
): string {
  const ts = (n: number) => `(00.${String(7000 + n).padStart(6, "0")})`;
  const mask = l.xcr0 & ~0xan;
  const lines = [
    `${ts(0)} Version: 4.2 (gitid 0)`,
    `${ts(1)} Running on node Linux ${kernel} #1 SMP PREEMPT_DYNAMIC x86_64`,
    `${ts(2)} cpu: x86_family ${cpu.family} x86_vendor_id ${cpu.vendor} x86_model_id ${cpu.brand}`,
    `${ts(3)} cpu: fpu: xfeatures_mask 0x${mask.toString(16)} xsave_size ${l.userSize} xsave_size_max ${l.maxSize} xsaves_size ${l.maxSize + 40}`,
  ];
  for (const c of l.components) {
    if (c.bit >= COMPEL_NAMES.length || !((mask >> BigInt(c.bit)) & 1n)) continue;
    const name = COMPEL_NAMES[c.bit]!.padEnd(32);
    lines.push(
      `${ts(4 + c.bit)} cpu: fpu: ${name} xstate_offsets ${String(c.offset).padStart(6)} / ${String(c.compactedOffset ?? c.offset).padEnd(6)} xstate_sizes ${String(c.size).padStart(6)} / ${String(c.size).padEnd(6)}`,
    );
  }
  lines.push(`${ts(40)} cpu: fpu:1 fxsr:1 xsave:1 xsaveopt:1 xsavec:1 xgetbv1:1 xsaves:1`);
  lines.push(`${ts(41)} Dumping finished successfully`);
  return `${lines.join("\n")}\n`;
}
