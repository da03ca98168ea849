/**
 * The explorer computes in the browser with the same core as the CLI; these tests hold its
 * model (web/src, DOM-free parts) to the CLI's own output, so the page and the terminal agree.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CliContext, memoryIo } from "../../src/cli/context.ts";
import { renderLayout } from "../../src/cli/layout.ts";
import { renderTable } from "../../src/cli/render/table.ts";
import { isSigframeError, type SigframeError } from "../../src/core/errors.ts";
import { parseKernelVersion } from "../../src/core/kernel.ts";
import { BUILTIN_PROFILES } from "../../src/core/profiles/builtins.ts";
import { builtinProfile, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { buildFrame, emptyState, setRegister } from "../../src/core/sigframe/index.ts";
import { choosePolicies } from "../../src/core/sigreturn/index.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { errorLine } from "../../web/src/errors.ts";
import { inspectBytes } from "../../web/src/frame-model.ts";
import {
  checkFor,
  componentRows,
  diffFor,
  kernelFromText,
  layoutFor,
  layoutHeader,
  policiesFor,
  profileFromFile,
} from "../../web/src/model.ts";
import { CORPUS, FIXTURES, needs } from "../helpers/shared.ts";
import { sfIn } from "./helpers.ts";

const plain = () => new CliContext(memoryIo());

test("the layout header and table match 'sigframe layout' for every built-in profile", () => {
  assert.ok(BUILTIN_PROFILES.length >= 5);
  for (const b of BUILTIN_PROFILES) {
    for (const kernel of [undefined, "5.10", "6.18"]) {
      const p = b.build();
      const k = kernel ? parseKernelVersion(kernel) : undefined;
      const l = layoutFor(p, k ? { kernel: k } : {});
      const cli = renderLayout(plain(), p, l).split("\n");
      const head = layoutHeader(p, l);
      assert.deepEqual(cli.slice(0, 3), [head.title, head.sizes, head.frame], `${b.name} ${kernel}`);
      const table = renderTable(
        ["bit", "component", "size", "offset", "compacted", "flags", "state"].map((h) => ({
          header: h,
          align: ["bit", "size", "offset", "compacted"].includes(h) ? ("right" as const) : ("left" as const),
        })),
        componentRows(l).map((r) => [
          String(r.bit),
          r.name,
          String(r.size),
          r.offset,
          r.compacted,
          r.flags,
          r.reason ? `${r.state}: ${r.reason}` : r.state,
        ]),
      );
      assert.ok(cli.join("\n").includes(table), `${b.name} ${kernel}: table differs from the CLI's`);
    }
  }
});

test("diff summaries match 'sigframe diff'", async () => {
  const names = ["intel-icelake-server", "amd-zen5", "amd-zen4", "intel-skylake-server"];
  for (const a of names) {
    for (const b of names) {
      const r = await sfIn(tmpdir(), ["diff", a, b]);
      assert.equal(r.code, 0, r.err);
      const v = diffFor(builtinProfile(a), builtinProfile(b));
      assert.equal(r.out.trimEnd().split("\n").pop(), v.summary, `${a} vs ${b}`);
    }
  }
  const v = diffFor(builtinProfile("intel-icelake-server"), builtinProfile("amd-zen5"));
  const opmask = v.diff.components.find((c) => c.name === "OPMASK");
  assert.equal(opmask?.status, "different-offset");
});

test("error lines are the CLI's, word for word", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-web-"));
  const cases: [string, Uint8Array][] = [
    ["notes.txt", new TextEncoder().encode("hello, this is not a CPU\n")],
    ["broken.json", new TextEncoder().encode('{"format": "sigframe-profile/1", ')],
    ["empty.img", new Uint8Array(0)],
    ["binary.bin", Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0])],
  ];
  for (const [name, bytes] of cases) {
    writeFileSync(join(dir, name), bytes);
    let pageLine: string | undefined;
    try {
      profileFromFile(bytes, name);
    } catch (e) {
      assert.ok(isSigframeError(e), `${name}: ${String(e)}`);
      pageLine = errorLine(e);
    }
    assert.ok(pageLine, `${name} was accepted`);
    const r = await sfIn(dir, ["layout", name]);
    assert.equal(r.code, 2);
    assert.equal(r.err, `${pageLine}\n`, name);
  }
  // A bad option reads as the CLI's option error.
  let line = "";
  try {
    kernelFromText("six");
  } catch (e) {
    line = errorLine(e);
  }
  const r = await sfIn(dir, ["layout", "amd-zen5", "--kernel", "six"]);
  assert.equal(r.err, `${line}\n`);
  assert.match(errorLine(new TypeError("x is undefined")), /^sigframe: internal error: x is undefined$/);
});

test("policy choices match 'sigframe check'", () => {
  for (const policy of [undefined, "legacy", "classic", "refined", "bogus"]) {
    for (const kernel of [undefined, "5.10", "6.15", "6.18.3", "6.18.50", "7.0.2"]) {
      const k = kernel ? parseKernelVersion(kernel) : undefined;
      let cli: unknown;
      let web: unknown;
      try {
        cli = choosePolicies(policy, k);
      } catch (e) {
        cli = (e as SigframeError).oneLine();
      }
      try {
        web = policiesFor(k ? { kernel: k, policy: policy ?? "" } : { policy: policy ?? "" });
      } catch (e) {
        web = errorLine(e);
      }
      assert.deepEqual(web, cli, `${policy} ${kernel}`);
    }
  }
});

test("check findings and verdicts match 'sigframe check --json'", async () => {
  const pairs = [
    ["intel-icelake-server", "amd-zen5", "--policy", "classic"],
    ["amd-zen5", "intel-icelake-server", "--kernel", "6.16"],
    ["amd-zen4", "amd-zen5"],
  ];
  for (const [a, b, opt, val] of pairs) {
    const argv = ["check", "--from", a!, "--to", b!, "--json"];
    if (opt) argv.push(opt, val!);
    const r = await sfIn(tmpdir(), argv);
    const cli = JSON.parse(r.out);
    const choice: Parameters<typeof checkFor>[2] = {};
    if (opt === "--policy") choice.policy = val!;
    if (opt === "--kernel") choice.kernel = parseKernelVersion(val!);
    const result = await checkFor(builtinProfile(a!), builtinProfile(b!), choice);
    assert.equal(result.verdict, cli.verdict, `${a} → ${b}`);
    assert.equal(result.exitCode, r.code);
    assert.deepEqual(
      result.findings.map((f) => [f.code, f.severity, f.component ?? null, f.message]),
      cli.findings.map((f: Record<string, unknown>) => [f.code, f.severity, f.component ?? null, f.message]),
    );
  }
});

function sampleFrame(cpu: string): Uint8Array {
  const st = emptyState();
  setRegister(st, "xmm0", 0x1234n);
  setRegister(st, "ymm1", 1n << 200n);
  return buildFrame({ style: "kernel", layout: computeLayout(builtinProfile(cpu)), state: st }).bytes;
}

test("frame findings and predictions match 'sigframe inspect' and 'sigframe predict'", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-web-"));
  for (const writer of ["intel-icelake-server", "amd-zen5"]) {
    const frame = sampleFrame(writer);
    writeFileSync(join(dir, "f.bin"), frame);
    // The FPU area alone, cut where the writer put magic2 (a frame from another CPU).
    const fpOff = inspectBytes(frame, "f.bin").fpstateOffset!;
    writeFileSync(join(dir, "fp.bin"), frame.subarray(fpOff));
    for (const file of ["f.bin", "fp.bin"]) {
      for (const reader of ["intel-icelake-server", "amd-zen5", "amd-zen4"]) {
        const bytes = file === "f.bin" ? frame : frame.subarray(fpOff);
        const web = inspectBytes(bytes, file, { cpu: builtinProfile(reader) });
        const ins = await sfIn(dir, ["inspect", file, "--cpu", reader, "--json"]);
        assert.equal(ins.err, "");
        // inspect's exit code grades its findings (0, 1 warnings, 3 errors).
        const worst = web.findings.some((f) => f.severity === "error")
          ? 3
          : web.findings.some((f) => f.severity === "warning")
            ? 1
            : 0;
        assert.equal(ins.code, worst, ins.out);
        assert.deepEqual(
          web.findings.map((f) => [f.code, f.path, f.message]),
          JSON.parse(ins.out).findings.map((f: Record<string, string>) => [f.code, f.path, f.message]),
          `${writer} ${file} read as ${reader}`,
        );
        const pr = await sfIn(dir, ["predict", file, "--cpu", reader, "--all-policies", "--json"]);
        assert.equal(pr.code, 0, pr.err);
        const cli = JSON.parse(pr.out).predictions;
        assert.equal(web.predictions?.length, 3);
        assert.deepEqual(
          web.predictions!.map((x) => [x.policy, x.prediction.path, x.prediction.reason, x.prediction.lost]),
          cli.map((x: Record<string, unknown>) => [x.policy, x.path, x.reason, x.lost]),
          `${writer} ${file} read as ${reader}`,
        );
      }
    }
  }
  // Without a CPU: the same extra finding as the CLI, and no prediction.
  const web = inspectBytes(sampleFrame("amd-zen5"), "f.bin");
  assert.ok(web.findings.some((f) => f.code === "no-cpu"));
  assert.equal(web.predictions, undefined);
});

test("a truncated frame fails with the CLI's error line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-web-"));
  const frame = sampleFrame("amd-zen5");
  const fpOff = inspectBytes(frame, "x").fpstateOffset!;
  const cut = frame.subarray(fpOff, fpOff + 1000);
  writeFileSync(join(dir, "cut.bin"), cut);
  let line = "";
  try {
    inspectBytes(cut, "cut.bin", { kind: "fpstate", cpu: builtinProfile("amd-zen5") });
  } catch (e) {
    line = errorLine(e);
  }
  assert.match(line, /^sigframe: cut\.bin: /);
  const r = await sfIn(dir, ["inspect", "cut.bin", "--fpstate-only", "--cpu", "amd-zen5"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, `${line}\n`);
});

test("profile files parse in the model exactly as the CLI's reader parses them", () => {
  const p = builtinProfile("amd-zen5");
  const json = new TextEncoder().encode(
    JSON.stringify({ format: "sigframe-profile/1", name: "x" }).replace("}", ', "cpuid": []}'),
  );
  let a = "";
  let b = "";
  try {
    profileFromFile(json, "x.json");
  } catch (e) {
    a = errorLine(e);
  }
  try {
    profileFromBytes(json, "x.json");
  } catch (e) {
    b = errorLine(e);
  }
  assert.equal(a, b);
  assert.ok(a.startsWith("sigframe: x.json"), a);
  assert.equal(layoutFor(p).userSize, computeLayout(p).userSize);
});

test(
  "profile files from real machines give the CLI's layout (corpus JSON, cpuinfo.img, ELF core)",
  needs(FIXTURES, "fixtures"),
  async () => {
    const files = [
      join(CORPUS, "local-this-machine.json"),
      join(CORPUS, "intel-xeon-platinum-8351n-cpu-2-40ghz.json"),
      join(FIXTURES, "criu", "S1", "cpuinfo.img"),
      join(FIXTURES, "core", "S4.core"),
      join(FIXTURES, "core", "S4.kernel.core"),
    ];
    for (const f of files) {
      const r = await sfIn(tmpdir(), ["layout", f, "--json"]);
      assert.equal(r.code, 0, r.err);
      const cli = JSON.parse(r.out);
      const l = layoutFor(profileFromFile(new Uint8Array(readFileSync(f)), f));
      assert.equal(l.userSize, cli.userSize, f);
      assert.equal(`0x${l.xcr0.toString(16)}`, cli.xcr0, f);
      assert.deepEqual(
        componentRows(l).map((c) => [c.name, c.offset, c.state]),
        cli.components.map((c: Record<string, unknown>) => [
          c.name,
          c.supervisor ? "-" : String(c.offset),
          c.enabled ? "in frames" : c.supervisor ? "supervisor" : "not enabled",
        ]),
        f,
      );
    }
  },
);
