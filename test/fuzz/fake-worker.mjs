// A stand-in campaign worker for the watchdog tests: it records a case in shared memory the way
// fuzz/worker.ts does, then misbehaves as workerData.fault says (spin, allocate, exhaust the heap,
// throw), so that the parent's detection is tested without a real bug to find. In repro mode it
// reports the case the parent recovered from shared memory.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { SAB, decodeCase } = await import("../../fuzz/shared.ts");
const cfg = workerData;
const view = new SAB(cfg.sab);
if (cfg.mode === "repro") {
  const c = decodeCase(view);
  parentPort.postMessage({
    type: "finding",
    finding: {
      family: cfg.family,
      kind: cfg.repro.kind,
      signature: `${cfg.repro.kind}: ${cfg.repro.detail}`,
      detail: new TextDecoder().decode(c.bytes),
      exec: cfg.repro.exec,
      path: "",
      command: "",
      bytes: c.bytes.length,
    },
  });
  parentPort.postMessage({ type: "done", execs: 0, cpuMs: 0, counts: {}, exec: cfg.start, restart: false });
} else {
  const n = cfg.start;
  view.publish(n, {
    seed: 0,
    command: 0,
    file: "profile.json",
    bytes: new TextEncoder().encode(`case ${n}`),
  });
  const keep = [];
  if (cfg.fault === "spin") for (;;);
  if (cfg.fault === "rss") for (;;) keep.push(new Uint8Array(64 * 2 ** 20).fill(1));
  if (cfg.fault === "heap") for (;;) keep.push(new Array(1e6).fill(n));
  throw new Error("thrown by the fake worker");
}
