/**
 * Reads Debian `cpuid -r` output (etallen's cpuid, 2023 and older releases): one or many
 * `CPU n:` blocks (or `CPU:` with `-1`), each line `   0xLLLLLLLL 0xSS: eax=0x… ebx=0x… ecx=0x… edx=0x…`.
 */
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { InvalidDataError, UsageError } from "../errors.ts";
import { type Profile, profileFromCpuid } from "../profile.ts";
import { xsaveLeafProblem } from "../xsave/limits.ts";

const LINE =
  /^\s*0x([0-9a-fA-F]{1,8})\s+0x([0-9a-fA-F]{1,8}):\s+eax=0x([0-9a-fA-F]{1,8})\s+ebx=0x([0-9a-fA-F]{1,8})\s+ecx=0x([0-9a-fA-F]{1,8})\s+edx=0x([0-9a-fA-F]{1,8})\s*$/;
const CPU_HEADER = /^CPU(?:\s+(\d+))?:\s*$/;

/** Cheap sniff: does this text look like `cpuid -r` output? */
export function looksLikeCpuidR(text: string): boolean {
  const head = text.slice(0, 4096).split(/\r?\n/, 4);
  return head.some((l) => CPU_HEADER.test(l)) || head.some((l) => LINE.test(l));
}

export interface CpuidRBlock {
  cpu: number;
  leaves: CpuidLeaf[];
  /** Leaves on the block's lines (`leaves` is empty for a block that was not kept). */
  count: number;
}

/** More leaves than any CPU has (the `cpuid` tool prints a few hundred at most). */
export const MAX_LEAVES_PER_CPU = 4096;
/** More CPU blocks than Linux supports (NR_CPUS is at most 8192). */
export const MAX_CPUS = 8192;

/**
 * Parses every CPU block; errors name the 1-based line. Every line is checked, but only the
 * blocks `keep` accepts (default: all; asked in order, for blocks that have leaves) hold their leaves, so a dump of many CPUs costs the memory
 * of one. A block with more leaves than a CPU has, or more blocks than Linux supports, is refused
 * at the line that crosses the limit.
 */
export function parseCpuidR(text: string, input?: string, keep?: (cpu: number) => boolean): CpuidRBlock[] {
  const blocks: CpuidRBlock[] = [];
  let current: CpuidRBlock | undefined;
  let keeping = false;
  const at = (line: number) => (input === undefined ? { line } : { line, input });
  const open = (cpu: number, line: number) => {
    if (blocks.length >= MAX_CPUS)
      throw new InvalidDataError(`more than ${MAX_CPUS} CPU blocks: not a 'cpuid -r' dump`, at(line));
    current = { cpu, leaves: [], count: 0 };
    blocks.push(current);
    return current;
  };
  let lineNo = 0;
  for (let pos = 0; pos <= text.length; ) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    const raw = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    const line = raw.trimEnd();
    if (line.trim() === "") continue;
    const h = CPU_HEADER.exec(line.trim());
    if (h) {
      open(h[1] === undefined ? 0 : Number(h[1]), lineNo);
      continue;
    }
    const m = LINE.exec(line);
    if (!m) {
      throw new InvalidDataError(
        `not a 'cpuid -r' line: ${JSON.stringify(line.trim().slice(0, 60))}`,
        at(lineNo),
      );
    }
    const block = current ?? open(0, lineNo);
    if (++block.count > MAX_LEAVES_PER_CPU) {
      throw new InvalidDataError(
        `CPU ${block.cpu} has more than ${MAX_LEAVES_PER_CPU} CPUID leaves: not a 'cpuid -r' dump`,
        at(lineNo),
      );
    }
    // Whether a block is kept is asked at its first leaf (empty blocks are not offered).
    if (block.count === 1) keeping = keep ? keep(block.cpu) : true;
    const number = Number.parseInt(m[1]!, 16) >>> 0;
    // XSAVE sizes are checked in every block; other leaves of blocks not kept are only matched.
    if (!keeping && number !== 0xd) continue;
    const leaf: CpuidLeaf = {
      leaf: number,
      subleaf: Number.parseInt(m[2]!, 16) >>> 0,
      eax: Number.parseInt(m[3]!, 16) >>> 0,
      ebx: Number.parseInt(m[4]!, 16) >>> 0,
      ecx: Number.parseInt(m[5]!, 16) >>> 0,
      edx: Number.parseInt(m[6]!, 16) >>> 0,
    };
    const problem = xsaveLeafProblem(leaf);
    if (problem) throw new InvalidDataError(problem.what, at(lineNo));
    if (keeping) block.leaves.push(leaf);
  }
  const nonEmpty = blocks.filter((b) => b.count > 0);
  if (nonEmpty.length === 0) throw new InvalidDataError("no CPUID leaves in 'cpuid -r' input", at(1));
  return nonEmpty;
}

/** A profile from `cpuid -r` text; `cpuIndex` picks a CPU block (default: CPU 0, or the only one). */
export function profileFromCpuidR(text: string, name: string, cpuIndex?: number): Profile {
  // Only the block that is used holds its leaves: CPU 0 (or the first block with leaves), or `cpuIndex`.
  let first: number | undefined;
  const blocks = parseCpuidR(text, name, (cpu) => {
    first ??= cpu;
    return cpuIndex === undefined ? cpu === 0 || cpu === first : cpu === cpuIndex;
  });
  let block: CpuidRBlock | undefined;
  if (cpuIndex === undefined) block = blocks.find((b) => b.cpu === 0) ?? blocks[0];
  else {
    block = blocks.find((b) => b.cpu === cpuIndex);
    if (!block) {
      throw new UsageError(
        `no CPU ${cpuIndex} in this dump (it has ${blocks.map((b) => b.cpu).join(", ")})`,
        {
          input: name,
        },
      );
    }
  }
  const cpuid = new Cpuid(block!.leaves);
  if (!cpuid.get(0)) throw new InvalidDataError("the dump has no CPUID leaf 0 (vendor)", { input: name });
  return profileFromCpuid(
    cpuid,
    name,
    { kind: "cpuid-r", path: name },
    blocks.length > 1 ? [`CPU ${block!.cpu} of ${blocks.length} in the dump`] : [],
  );
}
