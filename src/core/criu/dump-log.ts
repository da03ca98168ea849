/**
 * The source CPU of a checkpoint from CRIU's `dump.log`. Container engines do not pass
 * `--cpu-cap`, so their checkpoints have no `cpuinfo.img`; but runc and crun run CRIU at log level
 * 4, and compel logs the dumping CPU's XSAVE layout at debug level
 * (compel/arch/x86/src/lib/cpu.c, compel_fpuid(), CRIU v3.x–4.2, LOG_PREFIX "cpu: "):
 *
 *     cpu: x86_family %u x86_vendor_id %s x86_model_id %s
 *     cpu: fpu: xfeatures_mask 0x%llx xsave_size %u xsave_size_max %u xsaves_size %u
 *     cpu: fpu: %-32s xstate_offsets %6d / %-6d xstate_sizes %6d / %-6d
 *
 * one component line per bit of xfeatures_mask, named from compel's `xfeature_names[]` (index = bit):
 * standard-format offset / compacted offset, size / compacted size, exactly as CPUID(0xD,i) gave them.
 * `Running on <host> Linux <release>` names the source kernel. Each log line starts with a
 * `(SS.uuuuuu) ` timestamp.
 */
import { type CpuidLeaf, LeafSet, signatureOf } from "../cpuid/cpuid.ts";
import { InvalidDataError } from "../errors.ts";
import { bitsOf } from "../hex.ts";
import type { Profile } from "../profile.ts";

/** compel's xfeature_names[], by bit. */
const COMPEL_NAMES: readonly string[] = [
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
  "Hardware Duty Cycling",
];

export interface DumpLogComponent {
  bit: number;
  name: string;
  offset: number;
  compactedOffset: number;
  size: number;
  compactedSize: number;
  /** 1-based line in the log. */
  line: number;
}

export interface DumpLogCpu {
  criuVersion?: string;
  /** `uname -r` of the dumping host. */
  kernel?: string;
  vendor?: string;
  family?: number;
  brand?: string;
  /** compel's xfeatures_mask as printed (bits 1 and 3 cleared by compel's mask bug). */
  xfeaturesMask: bigint;
  xsaveSize: number;
  xsaveSizeMax: number;
  xsavesSize?: number;
  /** fpu/fxsr/xsave/xsaveopt/xsavec/xgetbv1/xsaves flags of `cpu: fpu:1 fxsr:1 …`. */
  flags?: Record<string, boolean>;
  components: DumpLogComponent[];
  /** Line of the xfeatures_mask line. */
  line: number;
}

/** Largest dump.log read. */
export const MAX_DUMP_LOG = 64 * 1024 * 1024;
/** Largest standard-format XSAVE area a CPU can have (with AMX: 11008; 64 KiB is far above). */
const MAX_XSAVE = 64 * 1024;

const TS = String.raw`^(?:\(\s*[\d.]+\)\s*)?`;
const RE_CPU = new RegExp(`${TS}cpu: x86_family (\\d+) x86_vendor_id (\\S+) x86_model_id ?(.*)$`);
const RE_MASK = new RegExp(
  `${TS}cpu: fpu: xfeatures_mask 0x([0-9a-fA-F]+) xsave_size (\\d+) xsave_size_max (\\d+)(?: xsaves_size (\\d+))?`,
);
const RE_COMP = new RegExp(
  `${TS}cpu: fpu: (.+?)\\s+xstate_offsets\\s+(-?\\d+) / (-?\\d+)\\s+xstate_sizes\\s+(-?\\d+) / (-?\\d+)\\s*$`,
);
const RE_FLAGS = new RegExp(`${TS}cpu: fpu:(\\d) fxsr:(\\d) xsave:(\\d)((?: \\w+:\\d)*)\\s*$`);
const RE_RUNNING = new RegExp(`${TS}Running on \\S+ Linux (\\S+)`);
const RE_VERSION = new RegExp(`${TS}Version: (\\S+)`);

/** Text that is a CRIU log: its lines start with CRIU's `(SS.uuuuuu) ` timestamp. */
export function looksLikeCriuLog(text: string): boolean {
  const lines = text
    .slice(0, 4096)
    .split("\n")
    .filter((l) => l.trim() !== "");
  return lines.length > 0 && lines.slice(0, 8).every((l) => /^\(\s*\d+\.\d+\) /.test(l));
}

/**
 * Reads the CPU facts from a dump.log's text; undefined when the log has no `fpu: xfeatures_mask`
 * line (a log written below level 4, or not CRIU's).
 */
export function parseDumpLog(text: string, input = "dump.log"): DumpLogCpu | undefined {
  let out: DumpLogCpu | undefined;
  const meta: Partial<DumpLogCpu> = {};
  let lineNo = 0;
  let inBlock = false;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, Math.min(end, start + 4096));
    start = end + 1;
    lineNo++;
    if (!line.includes("cpu: ") && !line.includes("Running on") && !line.includes("Version:")) {
      if (end === text.length) break;
      continue;
    }
    const run = meta.kernel === undefined ? RE_RUNNING.exec(line) : null;
    const ver = meta.criuVersion === undefined ? RE_VERSION.exec(line) : null;
    const cpuLine = meta.vendor === undefined ? RE_CPU.exec(line) : null;
    const maskLine = RE_MASK.exec(line);
    const comp = inBlock && out ? RE_COMP.exec(line) : null;
    const flagsLine = out && !out.flags ? RE_FLAGS.exec(line) : null;
    if (run) meta.kernel = run[1]!;
    else if (ver) meta.criuVersion = ver[1]!;
    else if (cpuLine) {
      meta.family = Number(cpuLine[1]);
      meta.vendor = cpuLine[2]!;
      const brand = cpuLine[3]!.trim();
      if (brand) meta.brand = brand;
    } else if (maskLine) {
      const m = maskLine;
      // The first block is the dumping CPU; later blocks (other compel runs) are the same CPU.
      inBlock = out === undefined;
      if (!inBlock) continue;
      out = {
        xfeaturesMask: BigInt(`0x${m[1]}`),
        xsaveSize: Number(m[2]),
        xsaveSizeMax: Number(m[3]),
        components: [],
        line: lineNo,
      };
      if (m[4] !== undefined) out.xsavesSize = Number(m[4]);
      for (const [v, what] of [
        [out.xsaveSize, "xsave_size"],
        [out.xsaveSizeMax, "xsave_size_max"],
      ] as const) {
        if (!(v >= 512 + 64 && v <= MAX_XSAVE))
          throw new InvalidDataError(`${what} ${v} is not a possible XSAVE area size`, {
            input,
            line: lineNo,
          });
      }
    } else if (comp && out) {
      const m = comp;
      const name = m[1]!.trim();
      const bit = COMPEL_NAMES.indexOf(name);
      if (bit < 0) continue;
      const c: DumpLogComponent = {
        bit,
        name,
        offset: Number(m[2]),
        compactedOffset: Number(m[3]),
        size: Number(m[4]),
        compactedSize: Number(m[5]),
        line: lineNo,
      };
      if (!((out.xfeaturesMask >> BigInt(bit)) & 1n))
        throw new InvalidDataError(`component ${bit} (${name}) is listed but not in xfeatures_mask`, {
          input,
          line: lineNo,
        });
      const supervisorOffset = c.offset === -1;
      if (
        (!supervisorOffset && (c.offset < 0 || c.offset + c.size > MAX_XSAVE)) ||
        c.size <= 0 ||
        c.size > MAX_XSAVE ||
        (bit >= 2 && !supervisorOffset && c.offset < 576)
      )
        throw new InvalidDataError(
          `component ${bit} (${name}): offset ${c.offset} size ${c.size} is not possible`,
          {
            input,
            line: lineNo,
          },
        );
      if (!out.components.some((x) => x.bit === bit)) out.components.push(c);
    } else if (flagsLine && out) {
      const m = flagsLine;
      const flags: Record<string, boolean> = { fpu: m[1] === "1", fxsr: m[2] === "1", xsave: m[3] === "1" };
      for (const kv of m[4]!.trim().split(/\s+/).filter(Boolean)) {
        const [k, v] = kv.split(":");
        if (k) flags[k] = v === "1";
      }
      out.flags = flags;
    }
    if (end === text.length) break;
  }
  if (!out) return undefined;
  return { ...meta, ...out };
}

function setBit(l: CpuidLeaf, reg: "eax" | "ebx" | "ecx" | "edx", bit: number): void {
  l[reg] = (l[reg] | (1 << bit)) >>> 0;
}

/**
 * A profile with the offsets and sizes CRIU printed. CPUID leaves other than 0xD are reduced to
 * what the log implies (vendor, family, brand, and the feature flags the XSAVE components need);
 * the model and stepping are not logged.
 */
export function profileFromDumpLog(cpu: DumpLogCpu, name: string): Profile {
  const notes: string[] = [
    `from dump.log (line ${cpu.line}): CRIU${cpu.criuVersion ? ` ${cpu.criuVersion}` : ""} logged the dumping CPU's XSAVE layout; the offsets and sizes are exactly CRIU's`,
  ];
  const leaves = new LeafSet();
  const leaf = (l: number, s = 0): CpuidLeaf => leaves.leaf(l, s);
  const vendor = cpu.vendor && /^[\x20-\x7e]{12}$/.test(cpu.vendor) ? cpu.vendor : undefined;
  const l0 = leaf(0);
  l0.eax = 0xd;
  if (vendor) {
    const c = (i: number) =>
      (vendor.charCodeAt(i) |
        (vendor.charCodeAt(i + 1) << 8) |
        (vendor.charCodeAt(i + 2) << 16) |
        (vendor.charCodeAt(i + 3) << 24)) >>>
      0;
    l0.ebx = c(0);
    l0.edx = c(4);
    l0.ecx = c(8);
  }
  const family = cpu.family !== undefined && cpu.family <= 0xff + 0xf ? cpu.family : 0;
  const l1 = leaf(1);
  l1.eax = signatureOf(family, 0, 0) >>> 0;
  for (const b of [0, 24, 25, 26]) setBit(l1, "edx", b);
  setBit(l1, "ecx", 26);
  setBit(l1, "ecx", 27);

  let mask = cpu.xfeaturesMask;
  const fixes: string[] = [];
  if (!(mask & 2n) && mask & 1n) {
    mask |= 2n;
    fixes.push("bit 1 (SSE)");
  }
  if (!(mask & 8n) && mask & 16n) {
    mask |= 8n;
    fixes.push("bit 3 (BNDREGS)");
  }
  if (fixes.length)
    notes.push(
      `xfeatures_mask 0x${cpu.xfeaturesMask.toString(16)} lacks ${fixes.join(" and ")}: compel's XFEATURE_MASK_SUPERVISOR clears them on every CPU; restored to 0x${mask.toString(16)}`,
    );
  const l7 = leaf(7);
  if (mask & 4n) setBit(l1, "ecx", 28);
  if (mask & 0x18n) setBit(l7, "ebx", 14);
  if (mask & 0xe0n) setBit(l7, "ebx", 16);
  if (mask & 0x200n) {
    setBit(l7, "ecx", 3);
    setBit(l7, "ecx", 4);
  }
  const d0 = leaf(0xd, 0);
  d0.eax = Number(mask & 0xffffffffn) >>> 0;
  d0.edx = Number(mask >> 32n) >>> 0;
  d0.ebx = cpu.xsaveSize >>> 0;
  d0.ecx = cpu.xsaveSizeMax >>> 0;
  const d1 = leaf(0xd, 1);
  const f = cpu.flags ?? {};
  if (f.xsaveopt) setBit(d1, "eax", 0);
  if (f.xsavec) setBit(d1, "eax", 1);
  if (f.xgetbv1) setBit(d1, "eax", 2);
  if (f.xsaves) setBit(d1, "eax", 3);
  if (cpu.xsavesSize !== undefined) d1.ebx = cpu.xsavesSize >>> 0;

  const byBit = new Map(cpu.components.map((c) => [c.bit, c]));
  const comps = [...cpu.components].sort((a, b) => a.bit - b.bit);
  const missing: number[] = [];
  for (const bit of bitsOf(mask)) {
    if (bit < 2) continue;
    const c = byBit.get(bit);
    if (!c) {
      missing.push(bit);
      continue;
    }
    const l = leaf(0xd, bit);
    l.eax = c.size >>> 0;
    l.ebx = c.offset < 0 ? 0 : c.offset >>> 0;
    if (c.offset < 0) l.ecx |= 1;
    // 64-byte alignment in the compacted format (CPUID(0xD,i).ECX bit 1), where the compacted
    // offsets show it: the component starts on a 64-byte boundary past the previous one's end.
    const prev = comps.filter((x) => x.bit >= 2 && x.bit < bit).pop();
    if (
      f.xsaves &&
      prev &&
      c.compactedOffset % 64 === 0 &&
      c.compactedOffset > prev.compactedOffset + prev.compactedSize
    )
      l.ecx |= 2;
  }
  if (missing.length)
    notes.push(`dump.log lists no offset for component(s) ${missing.join(", ")} of xfeatures_mask: left out`);
  notes.push(
    "XCR0 is CRIU's xfeatures_mask (CPUID(0xD,0) filtered by compel): components compel does not know (AMX, APX) are not listed",
  );
  notes.push(
    "CPUID leaves other than 0xD are reduced to what dump.log implies (vendor, family, brand, the XSAVE feature flags); model and stepping are not logged",
  );
  if (cpu.brand) {
    leaves.setBrand(cpu.brand);
    leaf(0x80000000).eax = 0x80000004;
  }
  const p: Profile = {
    name,
    source: { kind: "criu-dump-log", path: name },
    vendor: vendor ?? "unknown",
    family,
    model: 0,
    stepping: 0,
    cpuid: leaves.build(),
    xcr0: mask,
    notes,
    cpuidReconstructed: "CRIU's dump.log logs the family and the XSAVE layout, not the model",
    xcr0Basis: "the xfeatures_mask CRIU logged in dump.log",
  };
  if (cpu.brand) p.brand = cpu.brand;
  if (cpu.kernel) p.kernel = cpu.kernel;
  return p;
}
