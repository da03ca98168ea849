import assert from "node:assert/strict";
import { test } from "node:test";
import { probeCases } from "../../../src/core/probe/cases.ts";
import { patterns } from "../../../src/core/probe/patterns.ts";
import { decodeProbeOutput, encodeCases, HELPER_PROTOCOL } from "../../../src/core/probe/protocol.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";

const layout = computeLayout(builtinProfile("intel-sapphirerapids"));
const cases = probeCases({ layout, isa: "avx512", xsavec: true }).filter((c) => !c.skip);

test("encodeCases: registers once, shared writes as blocks, every case's writes in order", () => {
  const text = encodeCases(cases, patterns().A);
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.filter((l) => l.startsWith("zmm ")).length, 32, "the registers are sent once");
  assert.ok(lines.indexOf(lines.find((l) => l.startsWith("zmm "))!) < lines.indexOf(`case ${cases[0]!.id}`));
  const defs = lines.filter((l) => l.startsWith("def "));
  assert.ok(defs.length > 0 && defs.length <= 64, `${defs.length} blocks`);
  // Expanding the blocks gives back each case's writes, in order.
  const blocks = new Map<string, string[]>();
  let open: string | undefined;
  const perCase = new Map<string, string[]>();
  let cur: string | undefined;
  for (const l of lines) {
    if (l.startsWith("def ")) open = l.slice(4);
    else if (l === "enddef") open = undefined;
    else if (open) blocks.set(open, [...(blocks.get(open) ?? []), l]);
    else if (l.startsWith("case ")) {
      cur = l.slice(5);
      perCase.set(cur, []);
    } else if (l.startsWith("use ")) perCase.get(cur!)!.push(...blocks.get(l.slice(4))!);
    else if (l.startsWith("write ")) perCase.get(cur!)!.push(l);
  }
  for (const c of cases) {
    const want = c.edit.writes.flatMap((w) => {
      const out: string[] = [];
      for (let o = 0; o < w.bytes.length; o += 4096)
        out.push(`write ${w.offset + o} ${Buffer.from(w.bytes.subarray(o, o + 4096)).toString("hex")}`);
      return out;
    });
    assert.deepEqual(perCase.get(c.id), want, c.id);
  }
  // The point of the blocks: far less to send than one copy per case.
  const flat = cases.reduce((n, c) => n + c.edit.writes.reduce((m, w) => m + 2 * w.bytes.length, 0), 0);
  assert.ok(text.length < flat / 2, `${text.length} bytes sent for ${flat} hex digits of writes`);
});

const header = JSON.stringify({
  helper: "sigframe-helper",
  protocol: HELPER_PROTOCOL,
  isa: "avx",
  kBits: 0,
  xcr0: "0x7",
  fpstateLimit: 65536,
  cases: 3,
});
const done = (id: string) => JSON.stringify({ id, outcome: "exited", exitCode: 70, error: "x" });

test("decodeProbeOutput: complete output", () => {
  const text = [header, '{"start": "a"}', done("a"), '{"start": "b"}', done("b"), '{"done": 2}', ""].join(
    "\n",
  );
  const r = decodeProbeOutput(text);
  assert.equal(r.complete, true);
  assert.equal(r.inFlight, undefined);
  assert.deepEqual(
    r.cases.map((c) => [c.id, c.outcome, c.exitCode]),
    [
      ["a", "exited", 70],
      ["b", "exited", 70],
    ],
  );
  assert.equal(r.fpstateLimit, 65536);
});

test("decodeProbeOutput: a runtime that died part-way leaves the finished cases and the one in flight", () => {
  const cut = [header, '{"start": "a"}', done("a"), '{"start": "b"}', '{"id": "b", "deliv'].join("\n");
  const r = decodeProbeOutput(cut);
  assert.equal(r.complete, false);
  assert.equal(r.inFlight, "b");
  assert.deepEqual(
    r.cases.map((c) => c.id),
    ["a"],
  );
  const headerOnly = decodeProbeOutput(`${header}\n`);
  assert.equal(headerOnly.cases.length, 0);
  assert.equal(headerOnly.inFlight, undefined);
});

test("decodeProbeOutput: anything else is invalid data", () => {
  assert.throws(() => decodeProbeOutput(""), /no header line/);
  assert.throws(() => decodeProbeOutput('{"helper": "other"}\n'), /unexpected helper output/);
  assert.throws(
    () => decodeProbeOutput(`${header.replace('"protocol":2', '"protocol":1')}\n`),
    /unexpected helper output/,
  );
  assert.throws(() => decodeProbeOutput([header, "garbage", done("a")].join("\n")), /line 2 is not JSON/);
  assert.throws(
    () => decodeProbeOutput([header, '{"id": "a", "outcome": "exploded"}', '{"done": 1}'].join("\n")),
    /line 2/,
  );
});

test("decodeProbeOutput: hostile output is invalid data, never a crash or a partial answer", () => {
  for (const [lines, msg] of [
    [[header, "null"], /line 2 is not a JSON object/],
    [[header, "[1, 2]", '{"done": 0}'], /line 2 is not a JSON object/],
    [[header, "42", '{"done": 0}'], /line 2 is not a JSON object/],
    [[header.replace('"fpstateLimit":65536', '"fpstateLimit":64')], /fpstateLimit/],
    [[header.replace('"isa":"avx"', '"isa":"avx10"')], /isa/],
    [
      [
        header,
        JSON.stringify({
          id: "a",
          outcome: "returned",
          regs: { v: Array(33).fill(""), k: [], mxcsr: "0x1f80" },
        }),
      ],
      /line 2/,
    ],
    [
      [
        header,
        JSON.stringify({
          id: "a",
          outcome: "returned",
          placed: { address: "0x10", readable: -1, fpstate: "" },
        }),
      ],
      /line 2/,
    ],
    [
      [
        header,
        JSON.stringify({
          id: "a",
          outcome: "returned",
          placed: { address: "0x10", readable: 8, fpstate: "abc" },
        }),
      ],
      /line 2/,
    ],
    [[header, JSON.stringify({ id: "a", outcome: "returned", delivered: { ucFlags: "7" } })], /line 2/],
  ] as const) {
    assert.throws(
      () => decodeProbeOutput([...lines, ""].join("\n")),
      (e: Error) =>
        e.name === "InvalidDataError" &&
        (msg.test(e.message) || msg.test(String((e as { path?: string }).path))),
      String(lines[lines.length - 1]),
    );
  }
  // A case line cut short by the end (the runtime died while writing it) is the case in flight.
  const cut = decodeProbeOutput([header, '{"start": "a"}', '{"id": "a", "outcome": "retu'].join("\n"));
  assert.equal(cut.inFlight, "a");
  assert.deepEqual(cut.cases, []);
  // Lines after `done` are not read.
  assert.equal(decodeProbeOutput([header, '{"done": 0}', "garbage"].join("\n")).complete, true);
});
