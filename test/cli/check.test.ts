import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { corpusPath, type HostKey } from "../core/compat/pairs.ts";
import { sf } from "../helpers/cli.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

const check = (a: HostKey, b: HostKey, ...rest: string[]) =>
  sf("check", "--from", corpusPath(a), "--to", corpusPath(b), ...rest);

describe("sigframe check: exit codes of the issue's pairs", needs(CORPUS, "cpuid corpus"), () => {
  const cases: [HostKey, HostKey, string[], number, string][] = [
    ["thisMachine", "icelakeSp", [], 3, "component_misplaced"],
    // Haswell's glibc sized its lazy-binding XSAVE area at 832 bytes: Ice Lake-SP writes 2688.
    ["haswell", "icelakeSp", ["--policy", "classic"], 1, "glibc_xsave_size"],
    ["haswell", "icelakeSp", ["--policy", "refined"], 3, "xstate_size_smaller"],
    ["haswell", "icelakeSp", [], 1, "xstate_size_smaller"],
    ["icelakeSp", "haswell", [], 3, "xstate_size_larger"],
    ["genoa", "turin", [], 0, ""],
    ["skylakeSp", "icelakeSp", [], 0, ""],
    ["icelakeSp", "sapphireRapids", ["--policy", "classic"], 0, ""],
    ["icelakeSp", "sapphireRapids", ["--policy", "refined"], 3, "xstate_size_smaller"],
    ["zen2", "zen3", ["--policy", "classic"], 0, ""],
    ["zen3", "raptorLake", [], 3, "component_outside_frame"],
  ];
  for (const [a, b, extra, code, finding] of cases) {
    test(`${a} → ${b} ${extra.join(" ")}: exit ${code}${finding ? `, ${finding}` : ""}`, async () => {
      const r = await check(a, b, ...extra, "--json");
      assert.equal(r.code, code, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.exitCode, code);
      assert.equal(j.verdict, code === 0 ? "compatible" : code === 1 ? "warnings" : "incompatible");
      if (finding)
        assert.ok(
          j.findings.some((f: { code: string }) => f.code === finding),
          finding,
        );
      else assert.ok(!j.findings.some((f: { severity: string }) => f.severity !== "info"));
    });
  }

  test("--kernel maps to the policy: 6.17.5 is refined, 7.3 classic", async () => {
    assert.equal((await check("haswell", "icelakeSp", "--kernel", "6.17.5")).code, 3);
    // classic kernels restore the frames; what is left is glibc's XSAVE area (a warning).
    assert.equal((await check("haswell", "icelakeSp", "--kernel", "7.3")).code, 1);
    assert.equal((await check("haswell", "icelakeSp", "--kernel", "6.1")).code, 1);
  });
});

describe("sigframe check: output", needs(CORPUS, "cpuid corpus"), () => {
  test("--json has the contract's shape", async () => {
    const r = await check("zen3", "raptorLake", "--json");
    const j = JSON.parse(r.out);
    for (const k of ["verdict", "findings", "policies", "criu"]) assert.ok(k in j, k);
    for (const p of ["classic", "refined", "legacy"]) assert.ok(j.policies[p].verdict, p);
    assert.equal(typeof j.criu.wouldAccept, "boolean");
    assert.equal(typeof j.criu.reason, "string");
    for (const f of j.findings) {
      assert.ok(["error", "warning", "info"].includes(f.severity));
      assert.equal(typeof f.code, "string");
      assert.equal(typeof f.message, "string");
    }
    const pk = j.findings.find(
      (f: { code: string; component?: string }) =>
        f.code === "component_outside_frame" && f.component === "PKRU",
    );
    assert.equal(pk.from.offset, 2432);
    assert.equal(pk.to.offset, 2688);
    assert.equal(j.from.xcr0, "0x207", "u64 as hex strings");
  });

  test("human output: sections by severity, CRIU's answer, the verdict last", async () => {
    const r = await check("haswell", "icelakeSp");
    assert.equal(r.code, 1);
    assert.match(r.out, /^WARNINGS \(\d+\)$/m);
    assert.doesNotMatch(r.out, /^ERRORS/m);
    assert.match(
      r.out,
      /CRIU 'cpuinfo check' \(--cpu-cap=fpu\): refuses: CPU xsave size mismatch \(832\/2696\) \(refuses although the state restores\)/,
    );
    assert.match(r.out.trimEnd().split("\n").pop()!, /^verdict: warnings \(exit 1\)$/);
    assert.doesNotMatch(r.out, /\x1b\[/, "no colour without a TTY");
  });

  test("--uses narrows what the process uses: YMM only from this machine still misplaced? no: YMM is at 576 everywhere", async () => {
    const r = await check(
      "thisMachine",
      "icelakeSp",
      "--uses",
      "0x7",
      "--policy",
      "classic",
      "--restorer",
      "criu",
      "--json",
    );
    const j = JSON.parse(r.out);
    // No frame finding; glibc's XSAVE area (sized for the whole mask, whatever the process uses)
    // is the only warning.
    assert.deepEqual(
      j.findings
        .filter((f: { severity: string }) => f.severity !== "info")
        .map((f: { code: string }) => f.code),
      ["glibc_xsave_size"],
    );
    assert.equal(r.code, 1);
    assert.equal(j.uses, "0x7");
  });

  test("usage errors exit 2 with one line", async () => {
    const both = await check("haswell", "icelakeSp", "--kernel", "6.1", "--policy", "classic");
    assert.equal(both.code, 2);
    assert.match(both.err, /^sigframe: --policy: give --kernel or --policy, not both\n$/);
    const bad = await check("haswell", "icelakeSp", "--policy", "newest");
    assert.equal(bad.code, 2);
    const miss = await sf("check", "--from", corpusPath("haswell"));
    assert.equal(miss.code, 2);
    const cp = await check("haswell", "icelakeSp", "--core", "/nonexistent");
    assert.equal(cp.code, 2);
  });
});
