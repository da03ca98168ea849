/**
 * Reads Debian `cpuid -r` output (etallen's cpuid, 2023 and older releases): one or many
 * `CPU n:` blocks (or `CPU:` with `-1`), each line `   0xLLLLLLLL 0xSS: eax=0x… ebx=0x… ecx=0x… edx=0x…`.
 */
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { InvalidDataError, UsageError } from "../errors.ts";
import { type Profile, profileFromCpuid } from "../profile.ts";

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
}

/** Parses every CPU block; errors name the 1-based line. */
export function parseCpuidR(text: string, input?: string): CpuidRBlock[] {
  const blocks: CpuidRBlock[] = [];
  let current: CpuidRBlock | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trimEnd();
    if (line.trim() === "") continue;
    const h = CPU_HEADER.exec(line.trim());
    if (h) {
      current = { cpu: h[1] === undefined ? 0 : Number(h[1]), leaves: [] };
      blocks.push(current);
      continue;
    }
    const m = LINE.exec(line);
    if (!m) {
      const where: { line: number; input?: string } = { line: i + 1 };
      if (input !== undefined) where.input = input;
      throw new InvalidDataError(`not a 'cpuid -r' line: ${JSON.stringify(line.trim().slice(0, 60))}`, where);
    }
    if (!current) {
      current = { cpu: 0, leaves: [] };
      blocks.push(current);
    }
    current.leaves.push({
      leaf: Number.parseInt(m[1]!, 16) >>> 0,
      subleaf: Number.parseInt(m[2]!, 16) >>> 0,
      eax: Number.parseInt(m[3]!, 16) >>> 0,
      ebx: Number.parseInt(m[4]!, 16) >>> 0,
      ecx: Number.parseInt(m[5]!, 16) >>> 0,
      edx: Number.parseInt(m[6]!, 16) >>> 0,
    });
  }
  const nonEmpty = blocks.filter((b) => b.leaves.length > 0);
  if (nonEmpty.length === 0) {
    const where: { line: number; input?: string } = { line: 1 };
    if (input !== undefined) where.input = input;
    throw new InvalidDataError("no CPUID leaves in 'cpuid -r' input", where);
  }
  return nonEmpty;
}

/** A profile from `cpuid -r` text; `cpuIndex` picks a CPU block (default: CPU 0, or the only one). */
export function profileFromCpuidR(text: string, name: string, cpuIndex?: number): Profile {
  const blocks = parseCpuidR(text, name);
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
