/**
 * `check --core` / `--checkpoint` on processes made in the test: what the report calls the image
 * and its frames, and whether the frames agree with the layout they are read with. No ../shared.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { sf } from "../helpers/cli.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-check-core-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const STACK = 0x7ffffffde000n;
const TOP = STACK + 0x21000n;

/** A process in a SIGUSR1 handler on `cpu`, written as a kernel core named `file`. */
function inHandlerCore(cpu: string, file: string, o: Parameters<typeof elfCore>[1] = {}): string {
  const l = computeLayout(builtinProfile(cpu));
  const p = simulate(
    l,
    [{ tid: 321, sp: TOP - 0x800n, signals: [{ signo: 10, regs: { k2: "0xabcd", zmm20: "0x12" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const d = mkdtempSync(join(dir, "c-"));
  const path = join(d, file);
  writeFileSync(path, elfCore(p, { mainStack: TOP - 0x100n, ...o }));
  return path;
}

describe("what check calls a core and its frames", () => {
  test("a kernel core named 'core' is 'core', not 'core core'; its frames are 'found in the core'", async () => {
    const core = inHandlerCore("amd-zen4", "core");
    const r = await sf("check", "--core", core, "--to", "intel-icelake-server", "--policy", "classic");
    assert.equal(r.code, 3, r.err + r.out);
    assert.match(r.out, /^check: core → intel-icelake-server$/m);
    assert.match(r.out, /^ {2}from {2}core: AuthenticAMD/m);
    assert.doesNotMatch(r.out, /core core/);
    assert.match(
      r.out,
      /frames found in the core: OPMASK is at offset 832 in the frame but intel-icelake-server reads it at 1088/,
    );
    assert.doesNotMatch(r.out, /found in the checkpoint/);
    const j = JSON.parse((await sf("check", "--core", core, "--to", "intel-icelake-server", "--json")).out);
    assert.equal(j.frames[0].style, "core");
    assert.match(j.frames[0].description, /as the core holds it/);
  });

  test("a core whose name does not say so is 'core NAME'", async () => {
    const core = inHandlerCore("amd-zen4", "dump.bin");
    const r = await sf("check", "--core", core, "--to", "amd-zen4");
    assert.match(r.out, /^check: core dump\.bin → amd-zen4$/m);
  });
});

/** A process on `layout` in a handler (its frames optionally written on `frameLayout`), as a core. */
function processCore(
  layout: ReturnType<typeof computeLayout>,
  file: string,
  o: {
    frameLayout?: ReturnType<typeof computeLayout>;
    amx?: boolean;
    xstateBv?: bigint;
    core?: Parameters<typeof elfCore>[1];
  } = {},
): string {
  const p = simulate(
    layout,
    [
      {
        tid: 77,
        sp: TOP - 0x800n,
        signals: [
          {
            signo: 10,
            regs: { k2: "0xabcd", zmm20: "0x12" },
            ...(o.frameLayout ? { layout: o.frameLayout } : {}),
          },
        ],
        ...(o.amx ? { amx: true } : {}),
        ...(o.xstateBv !== undefined ? { xstateBv: o.xstateBv } : {}),
      },
    ],
    [{ start: STACK, size: 0x22000 }],
  );
  const d = mkdtempSync(join(dir, "p-"));
  const path = join(d, file);
  writeFileSync(path, elfCore(p, { mainStack: TOP - 0x100n, ...(o.core ?? {}) }));
  return path;
}

const L = (name: string, o: Parameters<typeof computeLayout>[1] = {}) =>
  computeLayout(builtinProfile(name), o);
const codes = (j: { findings: { code: string; severity: string }[] }) =>
  j.findings.map((f) => [f.code, f.severity]);

describe("a source that contradicts the frames on the stacks", () => {
  test("--from an Intel CPU on an AMD core: the core's own record wins, said, and the AMD frames are misplaced (exit 3)", async () => {
    const core = processCore(L("amd-zen4"), "zen4.core");
    const r = await sf(
      "check",
      "--from",
      "intel-sapphirerapids",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--core",
      core,
      "--json",
    );
    assert.equal(r.code, 3, r.err + r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.from.vendor, "AuthenticAMD");
    const sc = j.findings.find((f: { code: string }) => f.code === "source_contradicted");
    assert.ok(sc, r.out);
    assert.match(
      sc.message,
      /--from intel-sapphirerapids contradicts the 1 live frame .*xstate_size 2440, xfeatures 0x2e7/,
    );
    assert.ok(
      j.findings.some(
        (f: { code: string; component?: string }) =>
          f.code === "component_misplaced" && f.component === "OPMASK",
      ),
    );
    // The same core without --from, and with the right --from: no contradiction.
    for (const extra of [[], ["--from", "amd-zen4"]]) {
      const k = JSON.parse(
        (
          await sf(
            "check",
            ...extra,
            "--to",
            "intel-sapphirerapids",
            "--policy",
            "classic",
            "--core",
            core,
            "--json",
          )
        ).out,
      );
      assert.ok(
        !codes(k).some(([c]) => c === "source_contradicted" || c === "frame_layout_mismatch"),
        extra.join(" "),
      );
    }
  });

  test("a frame written on another CPU (a migrated process) is read at its writer's offsets and said", async () => {
    // The core's notes (with the kernel's layout note) are an Ice Lake's; the frame an AMD Zen 4 wrote.
    const core = processCore(L("intel-icelake-server"), "migrated.core", { frameLayout: L("amd-zen4") });
    const r = await sf(
      "check",
      "--core",
      core,
      "--to",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(r.code, 3, r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.from.vendor, "GenuineIntel", "the kernel's layout note stays the source");
    const m = j.findings.find((f: { code: string }) => f.code === "frame_layout_mismatch");
    assert.equal(m.severity, "info");
    assert.match(
      m.message,
      /states xstate_size 2440, xfeatures 0x2e7, not what migrated\.core's kernel writes .* AuthenticAMD's standard offsets/,
    );
    // Read at AMD offsets, restored by an Intel kernel at Intel offsets: misplaced.
    const mis = j.findings.find(
      (f: { code: string; component?: string }) =>
        f.code === "component_misplaced" && f.component === "OPMASK",
    );
    assert.ok(mis, r.out);
    assert.equal(mis.from.offset, 1088, "the source host (Ice Lake) places OPMASK at 1088");
    assert.match(mis.message, /OPMASK is at offset 832 in the frame/);
  });

  test("a frame no published layout writes: an error naming it (exit 3)", async () => {
    const odd = L("amd-zen4");
    // A layout with PKRU where no vendor puts it.
    const weird = {
      ...odd,
      userSize: 2512,
      frame: { xstateSize: 2512, extendedSize: 2516 },
      components: odd.components.map((c) => (c.bit === 9 ? { ...c, offset: 2504 } : c)),
    };
    const core = processCore(L("intel-icelake-server"), "odd.core", { frameLayout: weird });
    const r = await sf(
      "check",
      "--core",
      core,
      "--to",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(r.code, 3);
    const m = JSON.parse(r.out).findings.find((f: { code: string }) => f.code === "frame_layout_mismatch");
    assert.equal(m.severity, "error");
    assert.match(
      m.message,
      /xstate_size 2512, xfeatures 0x2e7, which neither .* nor any published vendor layout writes/,
    );
  });
});

describe("cores written by gdb 13: its XSTATE note is its own idea of the layout", () => {
  const spr = L("intel-sapphirerapids");
  const gdbCore = () => processCore(spr, "proc.gcore", { core: { writer: "gdb" } });

  test("layout: the live frames win over gdb's note, said; no family/model 0, no CPUID(0xD,0) value", async () => {
    const r = await sf("layout", gdbCore());
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^XCR0 0x602e7 \(from the live frames' xfeatures\) {3}user_size 2816 {3}max 11008 {3}CPUID\(0xD,0\) not recorded$/m,
    );
    assert.match(
      r.out,
      /note: XSAVE layout from the live signal frames, not from gdb's NT_X86_XSTATE note \(XCR0 0xe7, 2688 bytes\)/,
    );
    assert.match(r.out, /XTILEDATA \(AMX tile data\) added: AT_MINSIGSTKSZ/);
    assert.doesNotMatch(r.out, /family 0|model 0|CPUID\(0xD,0\)\.ECX/);
    const j = JSON.parse((await sf("layout", gdbCore(), "--json")).out);
    assert.deepEqual([j.profile.family, j.profile.model, j.profile.stepping], [null, null, null]);
    assert.equal(j.userSize, 2816);
  });

  test("check --core: the source is the CPU the frames show, and CRIU's line is about it", async () => {
    const r = await sf(
      "check",
      "--core",
      gdbCore(),
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(r.code, 0, r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.from.userSize, 2816);
    assert.equal(j.from.xcr0, "0x602e7");
    assert.ok(!codes(j).some(([c]) => c === "frame_layout_mismatch" || c === "source_contradicted"));
  });

  test("a kernel core of the same process: its notes stand, and the frames agree", async () => {
    const r = await sf("scan", processCore(spr, "proc.core"));
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /source CPU: XSAVE layout from the live signal frames/);
    const l = await sf("layout", processCore(spr, "proc2.core"));
    assert.match(l.out, /XCR0 0x602e7 \(from the core's NT_X86_XSTATE note\)/);
  });
});

describe("check --amx: the restorer requests AMX permission again", () => {
  const amxCore = () => processCore(L("intel-sapphirerapids"), "amx.core", { amx: true, xstateBv: 0x600e7n });

  test("an AMX task's core against its own CPU: incompatible without --amx, compatible with it", async () => {
    const without = await sf(
      "check",
      "--core",
      amxCore(),
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--json",
    );
    assert.equal(without.code, 3);
    const w = JSON.parse(without.out);
    assert.ok(
      codes(w).some(([c]) => c === "xstate_size_larger"),
      without.out,
    );
    const r = await sf(
      "check",
      "--core",
      amxCore(),
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--amx",
      "--json",
    );
    assert.equal(r.code, 0, r.out);
    const j = JSON.parse(r.out);
    assert.equal(j.to.userSize, 11008);
    assert.ok(j.frames.some((f: { style: string }) => f.style === "amx-restorer"));
    assert.match(
      j.findings.find((f: { code: string }) => f.code === "amx_permission").message,
      /the restorer is taken to request it again .*--amx/,
    );
  });

  test("--amx toward a CPU without AMX is a usage error", async () => {
    const r = await sf("check", "--from", "intel-sapphirerapids", "--to", "amd-zen4", "--amx");
    assert.equal(r.code, 2);
    assert.match(r.err, /--amx: amd-zen4 has no AMX tile data/);
  });
});
