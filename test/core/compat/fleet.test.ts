import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  baseline,
  cellFor,
  checkCompat,
  criuCheck,
  criuCpuinfo,
  matrix,
  policyDiff,
} from "../../../src/core/compat/index.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { predict } from "../../../src/core/sigreturn/index.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";
import { type HostKey, layout, profile } from "./pairs.ts";

const host = (k: HostKey) => ({ name: k, layout: layout(k) });

function corpus() {
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith(".json") && f !== "index.json" && f !== "conversion-log.json")
    .map((f) => ({ name: f, layout: computeLayout(profileFromBytes(readFileSync(join(CORPUS, f)), f)) }));
}

describe("baseline", needs(CORPUS, "cpuid corpus"), () => {
  test("Intel and AMD AVX-512 hosts: only x87/SSE/YMM are portable; AVX-512 and PKRU excluded by offset", () => {
    const r = baseline([host("genoa"), host("icelakeSp"), host("sapphireRapids")]);
    assert.equal(r.mask, 0x7n);
    assert.equal(r.frameSize, 832);
    const opmask = r.excluded.find((e) => e.bit === 5);
    assert.ok(opmask);
    assert.deepEqual(
      opmask.placements.map((p) => p.offset).sort((a, b) => a - b),
      [832, 1088],
    );
    const pkru = r.excluded.find((e) => e.bit === 9);
    assert.ok(pkru && pkru.placements.length === 2);
    const tiles = r.excluded.find((e) => e.bit === 18);
    assert.ok(tiles);
    assert.deepEqual(tiles.missingOn.sort(), ["genoa", "icelakeSp"]);
  });

  test("Intel servers: AVX-512 and PKRU portable; frames of 2696 bytes", () => {
    const r = baseline([host("skylakeSp"), host("icelakeSp"), host("sapphireRapids")]);
    assert.equal(r.mask, 0x2e7n);
    assert.equal(r.frameSize, 2696);
    const mpx = r.excluded.find((e) => e.bit === 3);
    assert.deepEqual(mpx?.missingOn.sort(), ["icelakeSp", "sapphireRapids"]);
    // A baseline frame restores on every host with the right user_size: the check agrees.
    const spr = r.hosts.find((h) => h.name === "sapphireRapids");
    assert.ok(spr && spr.beyond !== 0n, "SPR saves XTILECFG beyond the baseline");
  });

  test("one host: its own features", () => {
    const r = baseline([host("zen3")]);
    assert.equal(r.mask, layout("zen3").userFeatures);
    assert.equal(r.excluded.length, 0);
  });
});

describe("CRIU cpuinfo check emulation", needs(CORPUS, "cpuid corpus"), () => {
  test("xsave_size must be equal; xfeatures a subset; first failure is CRIU's line", () => {
    const z2 = criuCpuinfo(layout("zen2"), profile("zen2"));
    const z3 = criuCpuinfo(layout("zen3"), profile("zen3"));
    assert.equal(z2.xfeaturesMask, 0x7n, "PKRU gated off on Zen 2");
    const v = criuCheck(z2, z3);
    assert.equal(v.wouldAccept, false);
    assert.equal(v.reason, "CPU xsave size mismatch (832/2440)");
    const back = criuCheck(z3, z2);
    assert.match(back.reason, /^CPU xfeatures has unsupported bits \(0x200\)$/);
    assert.ok(back.failures.length >= 2);
    assert.equal(criuCheck(z3, z3).wouldAccept, true);
  });

  test("CRIU accepts wrongly where sizes match but offsets do not", () => {
    // Same xsave_size, different PKRU/AVX-512 offsets would be needed; Zen 4 vs Zen 5 agree.
    const r = checkCompat({ from: layout("genoa"), to: layout("turin"), predict });
    assert.equal(r.criu.assessment, "agrees");
  });
});

describe("matrix", needs(CORPUS, "cpuid corpus"), () => {
  test("cells agree with check for the issue's pairs", () => {
    const keys: HostKey[] = ["thisMachine", "haswell", "icelakeSp", "zen3", "raptorLake", "genoa", "turin"];
    const hosts = keys.map(host);
    const m = matrix(hosts, { predict });
    const idx = (k: HostKey) => keys.indexOf(k);
    assert.equal(cellFor(m, idx("thisMachine"), idx("icelakeSp")).exitCode, 3);
    assert.equal(cellFor(m, idx("haswell"), idx("icelakeSp")).exitCode, 1);
    assert.equal(cellFor(m, idx("genoa"), idx("turin")).exitCode, 0);
    assert.equal(cellFor(m, idx("zen3"), idx("raptorLake")).exitCode, 3);
    assert.ok(cellFor(m, idx("zen3"), idx("raptorLake")).codes.includes("component_outside_frame"));
    // Genoa and Turin have identical layouts: one group.
    assert.equal(m.groupOf[idx("genoa")], m.groupOf[idx("turin")]);
    for (let i = 0; i < keys.length; i++) assert.notEqual(cellFor(m, i, i).exitCode, 3);
  });

  test("policy choice changes cells", () => {
    const hosts = [host("haswell"), host("icelakeSp")];
    assert.equal(cellFor(matrix(hosts, { predict, policies: ["classic"] }), 0, 1).exitCode, 1);
    assert.equal(cellFor(matrix(hosts, { predict, policies: ["refined"] }), 0, 1).exitCode, 3);
  });

  test("the whole corpus: one check per pair of distinct layouts, not per pair of hosts", () => {
    const hosts = corpus();
    let checks = 0;
    let predictions = 0;
    const counted: typeof predict = (...args) => {
      predictions++;
      return predict(...args);
    };
    const m = matrix(hosts, {
      predict: counted,
      onCheck: () => {
        checks++;
      },
    });
    assert.ok(hosts.length > 250);
    assert.ok(m.groups.length < hosts.length / 4, `${m.groups.length} groups`);
    assert.equal(checks, m.groups.length ** 2);
    // One check predicts a handful of frames under each policy, whatever the fleet's size.
    assert.ok(predictions <= checks * 3 * 16, `${predictions} predictions for ${checks} checks`);
  });
});

describe("policy-diff", needs(CORPUS, "cpuid corpus"), () => {
  test("classic vs refined over the corpus: smaller frames → FX-only is the top group", () => {
    const r = policyDiff("classic", "refined", corpus(), predict);
    assert.ok(r.differing > 0);
    const top = r.groups[0]!;
    assert.equal(top.cause, "xstate_size < user_size: xrstor → fxrstor-fallback(magic2-mismatch)");
    assert.ok(top.count > r.groups[1]!.count);
    assert.ok((top.kinds["cross-kernel"] ?? 0) > 0 && (top.kinds["cross-criu"] ?? 0) > 0);
    // The example really differs: re-run it through the model.
    const ex = top.example.frame;
    assert.ok(ex.fpstate);
    assert.equal(top.example.p.path, "xrstor");
    assert.equal(top.example.q.path, "fxrstor-fallback");
    assert.ok(top.example.lostUnderQ.length > 0);
  });

  test("a policy against itself differs nowhere", () => {
    const r = policyDiff("classic", "classic", [host("zen3"), host("icelakeSp")], predict);
    assert.equal(r.differing, 0);
    assert.equal(r.groups.length, 0);
  });

  test("legacy vs classic: faults that legacy turns into FX-only show up", () => {
    const r = policyDiff("legacy", "classic", [host("haswell"), host("zen3"), host("icelakeSp")], predict);
    assert.ok(
      r.groups.some((g) => g.cause.includes("fault(")),
      r.groups.map((g) => g.cause).join("\n"),
    );
  });
});
