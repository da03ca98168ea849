/**
 * Inputs whose fields claim enormous sizes or counts (or that are simply huge within the input
 * caps) must fail, or finish, without doing work by the claimed size: each run's reads are held to
 * a small multiple of the bytes it was given and its peak memory to a bound, so a reader that reads,
 * allocates or loops by a claimed size shows up here. The suite's timeout is only a hang guard.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { pagemap_entrySchema, pagemap_headSchema } from "../../src/core/criu/gen/pagemap_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../../src/core/criu/image.ts";
import { buildCore, NT_PRSTATUS, NT_X86_XSTATE, prstatus, xstate } from "../core/elf/build.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";
import { measureWork, sizeOnDisk } from "../helpers/work.ts";
import { cli } from "./harness.ts";

/** Peak memory one run may add: far below any claimed size here, far above the inputs' own. */
const MAX_PEAK_GROWTH = 512 * 2 ** 20;
/** A hang guard for the whole suite, not a speed test (speed is `npm run bench`). */
const HANG_GUARD_MS = 10 * 60_000;

const tmp = mkdtempSync(join(tmpdir(), "sigframe-large-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs the CLI in-process and bounds its work by what it was given: it reads at most twice the
 * bytes of the files and folders named in `args` (plus 1 MiB for built-in tables and small
 * metadata), and raises the process's peak memory by at most MAX_PEAK_GROWTH.
 */
async function bounded(args: string[], input?: string): Promise<number> {
  const given = args.filter((a) => existsSync(a)).reduce((n, a) => n + sizeOnDisk(a), 0);
  const w = await measureWork(() => cli(args, input ? { input } : {}));
  const what = `sigframe ${args.join(" ")}`;
  assert.ok(w.bytesRead <= 2 * given + 2 ** 20, `${what} read ${w.bytesRead} bytes of ${given} given`);
  assert.ok(w.peakGrowth <= MAX_PEAK_GROWTH, `${what} raised peak memory by ${w.peakGrowth} bytes`);
  return w.result.code;
}

const kernelFrame = join(tmp, "kernel.bin");
before(async () => {
  assert.equal((await cli(["build", "--cpu", "amd-zen4", "-o", kernelFrame])).code, 0);
  // Load the command modules first, so that memory bounds are of the inputs, not of loading code.
  for (const c of ["layout", "inspect", "predict", "translate", "scan", "check", "build", "criu"])
    await cli([c, "--help"]);
});

describe("inputs that claim huge sizes do no work by the claimed size", { timeout: HANG_GUARD_MS }, () => {
  test("a frame with xstate_size / extended_size 0xffffffff", async () => {
    const base = new Uint8Array(readFileSync(kernelFrame));
    const fp = 456;
    for (const off of [fp + 468, fp + 480]) {
      const b = Uint8Array.from(base);
      new DataView(b.buffer).setUint32(off, 0xffffffff, true);
      const p = join(tmp, `xs-${off}.bin`);
      writeFileSync(p, b);
      await bounded(["inspect", p, "--cpu", "amd-zen4", "--json"], p);
      await bounded(
        ["predict", p, "--cpu", "amd-zen4", "--all-policies", "--readable-bytes", "0xffffffff"],
        p,
      );
      await bounded(
        ["translate", p, "--from", "amd-zen4", "--to", "intel-sapphirerapids", "-o", join(tmp, "t.bin")],
        p,
      );
      await bounded(["scan", p, "--base", "0x7ffffffde000", "--all"], p);
    }
  });

  test("a JSON document nested a million deep, as a profile and as STATE.json", async () => {
    const p = join(tmp, "deep.json");
    writeFileSync(p, `${"[".repeat(1e6)}${"]".repeat(1e6)}`);
    assert.equal(await bounded(["layout", p], p), 2);
    assert.equal(await bounded(["build", "--cpu", "amd-zen4", "--state", p, "-o", join(tmp, "o.bin")], p), 2);
    const q = join(tmp, "deep-objects.json");
    writeFileSync(q, `${'{"a":'.repeat(1e6)}1${"}".repeat(1e6)}`);
    assert.equal(await bounded(["layout", q], q), 2);
  });

  test("a 'cpuid -r' file of a million lines", async () => {
    const p = join(tmp, "million.cpuid");
    const line = "   0x00000001 0x00: eax=0x1 ebx=0x1 ecx=0x1 edx=0x1\n";
    writeFileSync(
      p,
      `CPU 0:\n   0x00000000 0x00: eax=0x10 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n${line.repeat(1e6)}`,
    );
    assert.equal(await bounded(["layout", p], p), 2);
    // A million header lines: more CPUs than Linux has.
    const q = join(tmp, "million-cpus.cpuid");
    writeFileSync(q, "CPU:\n".repeat(1e6));
    assert.equal(await bounded(["layout", q], q), 2);
  });

  test("an ELF core whose PT_LOAD claims p_filesz 2^62, and one claiming 65535 program headers", async () => {
    const core = buildCore(
      [
        { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(100, 0x7000_0100n) },
        { owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(832, 0x7n) },
      ],
      [{ vaddr: 0x7000_0000n, data: new Uint8Array(4096) }],
    );
    const big = Uint8Array.from(core);
    const dv = new DataView(big.buffer);
    dv.setBigUint64(64 + 56 + 32, 1n << 62n, true); // the PT_LOAD's p_filesz
    dv.setBigUint64(64 + 56 + 40, 1n << 62n, true); // and p_memsz
    const p = join(tmp, "filesz.core");
    writeFileSync(p, big);
    await bounded(["scan", p, "--json"], p);
    await bounded(["check", "--core", p, "--to", "amd-zen4"], p);
    await bounded(["layout", p], p);
    const many = Uint8Array.from(core);
    new DataView(many.buffer).setUint16(56, 0xffff, true);
    const q = join(tmp, "phnum.core");
    writeFileSync(q, many);
    assert.equal(await bounded(["scan", q], q), 2);
  });

  const S2 = join(FIXTURES, "criu", "S2");
  test("a pagemap claiming 2^35 pages (present, lazy, in a parent)", needs(S2, "CRIU fixtures"), async () => {
    const pid = readdirSync(S2)
      .find((f) => f.startsWith("core-"))!
      .slice(5, -4);
    for (const flags of [4, 2, 1]) {
      const dir = join(tmp, `cp-${flags}`);
      mkdirSync(dir);
      for (const f of readdirSync(S2)) {
        if (f === "logs") continue;
        if (f.startsWith("pages-")) symlinkSync(join(S2, f), join(dir, f));
        else copyFileSync(join(S2, f), join(dir, f));
      }
      const entries = [
        toBinary(pagemap_headSchema, create(pagemap_headSchema, { pagesId: 1 })),
        toBinary(
          pagemap_entrySchema,
          create(pagemap_entrySchema, {
            vaddr: 0x7f0000000000n,
            nrPages: 1n << 35n,
            compatNrPages: 0,
            flags,
          }),
        ),
      ];
      const img = new Uint8Array(8 + entries.reduce((n, e) => n + 4 + e.length, 0));
      const v = new DataView(img.buffer);
      v.setUint32(0, IMG_COMMON_MAGIC, true);
      v.setUint32(4, IMAGE_MAGICS.PAGEMAP!, true);
      let o = 8;
      for (const e of entries) {
        v.setUint32(o, e.length, true);
        img.set(e, o + 4);
        o += 4 + e.length;
      }
      writeFileSync(join(dir, `pagemap-${pid}.img`), img);
      await bounded(["scan", dir, "--json"], dir);
      await bounded(["check", "--checkpoint", dir, "--to", "amd-zen4"], dir);
      await bounded(["criu", "show", join(dir, `pagemap-${pid}.img`)]);
    }
  });
});
