/** `sigframe scan TARGET`: the live signal frames of each thread in a checkpoint, core or raw image. */
import type { Command } from "commander";
import { describeContainer } from "../core/archive/container.ts";
import { hex } from "../core/hex.ts";
import { describeProfile } from "../core/profile.ts";
import { rawImageOptions, type ScanFlags, type ScanReport, scanReportJson } from "../core/scan/report.ts";
import type { FoundFrame } from "../core/scan/scan.ts";
import type { ProcessScan, ScanTarget } from "../core/scan/targets.ts";
import { checkOutputDir, saveFrames } from "../node/save-frames.ts";
import { type ScanInputOptions, scanInput } from "../node/scan-target.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

/** Progress on stderr (bytes, rate, time left) when it is a terminal; nothing otherwise. */
export function progressReporter(
  ctx: CliContext,
  // Date.now: milliseconds are enough for a progress line, and `performance` loads node:perf_hooks.
  clock: () => number = Date.now,
): ((done: number, total: number) => void) & { end(): void } {
  const tty = ctx.io.stderrIsTTY;
  const start = clock();
  let last = 0;
  let shown = false;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const f = ((done: number, total: number) => {
    if (!tty) return;
    const now = clock();
    if (now - last < 200 || now - start < 500) return;
    last = now;
    const rate = done / ((now - start) / 1000);
    const left = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    const mmss = `${Math.floor(left / 60)}:${String(Math.round(left % 60)).padStart(2, "0")}`;
    ctx.io.stderr(`\rscanning ${mib(done)} / ${mib(total)}  ${mib(rate)}/s  ${mmss} left   `);
    shown = true;
  }) as ((done: number, total: number) => void) & { end(): void };
  f.end = () => {
    if (shown) ctx.io.stderr("\r\x1b[K");
  };
  return f;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("scan")
    .summary("find signal frames in a checkpoint, core or raw memory image")
    .description(
      "Find the live kernel signal frames (rt_sigframe + XSAVE fpstate) of every thread in a CRIU checkpoint (an image directory, or a Podman/CRI-O/kubelet archive: tar, plain, gzip or zstd, a pod's containers each reported), an ELF core (plain, or compressed with zstd, xz or lz4 as systemd-coredump stores it; archives and compressed cores are streamed, also from stdin), or a raw memory image (--base). Nested frames are chained from each thread's stack pointer (depth 1 = outermost). A frame is `high` confidence only when its contents are exactly what the kernel writes and it is on a thread's live chain; copies, stale frames below sp and stray magic bytes are `low` with reasons, or rejected (--all).",
    )
    .argument(
      "<TARGET>",
      "CRIU checkpoint directory or archive (tar, plain/gzip/zstd), ELF core (plain or zstd/xz/lz4-compressed; - for stdin), or raw memory image",
    )
    .option("--base <ADDR>", "raw image: virtual address of its first byte")
    .option("--sp <ADDR>", "raw image: a thread's stack pointer (liveness can then be checked)")
    .option("--altstack <SP:SIZE>", "raw image: that thread's sigaltstack")
    .option("--all", "examine magic1 at every alignment and list rejected candidates")
    .option(
      "--save-frames <DIR>",
      "write each live frame as a file inspect, predict and translate take (pretcode to the end of its FPU area), with index.json and the source CPU as source-cpu.json",
    )
    .option("--json", "JSON output")
    .action(async (path: string, flags: ScanFlags & { json?: boolean; saveFrames?: string }) => {
      const opts: ScanInputOptions = rawImageOptions(flags);
      if (flags.saveFrames !== undefined) checkOutputDir(flags.saveFrames);
      const progress = progressReporter(ctx);
      opts.onProgress = progress;
      if (flags.all) opts.all = true;
      const res = await scanInput(path, opts);
      try {
        progress.end();
        const r: ScanReport = { ...res, all: Boolean(flags.all) };
        if (flags.saveFrames !== undefined) r.saved = await saveFrames(flags.saveFrames, r.parts);
        ctx.out(flags.json ? JSON.stringify(scanReportJson(r), null, 2) : renderScanReport(ctx, r));
      } finally {
        res.close();
      }
    });
}

function renderScanReport(ctx: CliContext, r: ScanReport): string {
  const saved = r.saved;
  return (
    r.parts
      .map((p) => [...targetHeader(ctx, p.target), renderScan(ctx, p.target, p.scans, r.all)].join("\n"))
      .join("\n\n") +
    (saved
      ? `\nsaved ${saved.frames.length} live frame${saved.frames.length === 1 ? "" : "s"} to ${saved.dir}: ${saved.frames.map((f) => f.file).join(", ") || "none"}${saved.sourceCpu ? `; source CPU in ${saved.sourceCpu}` : ""}`
      : "")
  );
}

/** The lines above a checkpoint's scan: the container, and where its source CPU came from. */
function targetHeader(ctx: CliContext, t: ScanTarget): string[] {
  if (t.kind !== "criu" || (t.cpuSource === "cpuinfo.img" && !t.container)) return [];
  const out: string[] = [];
  const who = t.container ? describeContainer(t.container) : undefined;
  if (who) out.push(ctx.c.bold(who));
  const p = t.profile;
  out.push(
    p && t.cpuSource
      ? `source CPU (from ${t.cpuSource}): ${describeProfile(p)}, XCR0 ${hex(p.xcr0 ?? 3n)}`
      : "source CPU: unknown (no cpuinfo.img, no dump.log at log level 4, no XSAVE state in core-*.img)",
  );
  return out;
}

const KIND: Record<ScanTarget["kind"], string> = {
  criu: "CRIU checkpoint",
  "elf-core": "ELF core",
  raw: "raw memory image",
};

function frameRow(ctx: CliContext, f: FoundFrame): string[] {
  return [
    f.depth === null ? "-" : String(f.depth),
    f.signalName,
    hex(f.ucontext),
    hex(f.fpstate),
    String(f.sw.xstateSize),
    hex(f.sw.xfeatures),
    hex(f.xstateBv),
    hex(f.sigcontext.rip),
    hex(f.sigcontext.rsp),
    f.onAltstack ? "altstack" : (f.region?.name ?? (f.region ? "anonymous" : "-")),
    f.confidence === "high" ? ctx.c.green("high") : ctx.c.yellow("low"),
  ];
}

const FRAME_COLUMNS = [
  { header: "depth", align: "right" as const },
  { header: "signal" },
  { header: "ucontext" },
  { header: "fpstate" },
  { header: "xstate_size", align: "right" as const },
  { header: "xfeatures" },
  { header: "xstate_bv" },
  { header: "interrupted rip" },
  { header: "interrupted rsp" },
  { header: "stack" },
  { header: "confidence" },
];

function renderScan(ctx: CliContext, target: ScanTarget, scans: ProcessScan[], all: boolean): string {
  const c = ctx.c;
  const out: string[] = [];
  const live = scans.reduce((n, s) => n + s.result.frames.filter((f) => f.confidence === "high").length, 0);
  const nThreads = scans.reduce((n, s) => n + s.result.threads.length, 0);
  out.push(
    `${c.bold(target.name)}: ${KIND[target.kind]}${target.compression ? ` (${target.compression}-compressed)` : ""}, ${scans.length} process${scans.length === 1 ? "" : "es"}, ${nThreads} thread${nThreads === 1 ? "" : "s"}: ${c.bold(`${live} live signal frame${live === 1 ? "" : "s"}`)}`,
  );
  for (const s of scans) {
    const pid = s.pid === undefined ? "" : `pid ${s.pid} `;
    for (const t of s.result.threads) {
      const th = t.thread;
      const head = `${pid}thread ${th.index}${th.tid === undefined ? "" : ` (tid ${th.tid})`}`;
      const sp = th.sp === undefined ? "" : `  sp ${hex(th.sp)}`;
      const as = th.altstack ? `  sigaltstack ${hex(th.altstack.sp)}+${hex(th.altstack.size)}` : "";
      const state =
        t.frames.length === 0
          ? "not in a signal handler"
          : `in a signal handler, ${t.frames.length} frame${t.frames.length === 1 ? "" : "s"} deep`;
      out.push("");
      out.push(`${c.bold(head)}${sp}${as}: ${state}`);
      if (t.frames.length)
        out.push(
          renderTable(
            FRAME_COLUMNS,
            t.frames.map((f) => frameRow(ctx, f)),
            "  ",
          ),
        );
      for (const f of t.frames)
        for (const r of f.reasons) out.push(`  ${c.yellow("!")} depth ${f.depth}: ${r}`);
      const fpu = th.fpu;
      if (fpu) {
        const parts = [
          fpu.xstateBv === undefined ? undefined : `xstate_bv ${hex(fpu.xstateBv)}`,
          fpu.xfeatures === undefined ? undefined : `xcr0 ${hex(fpu.xfeatures)}`,
          fpu.size === undefined ? undefined : `${fpu.size} bytes`,
          fpu.mxcsr === undefined ? undefined : `mxcsr ${hex(fpu.mxcsr)}`,
        ].filter(Boolean);
        out.push(`  own FPU state (${fpu.source}): ${parts.join(", ")}`);
        for (const n of fpu.notes ?? []) out.push(`  ${c.dim(n)}`);
      }
    }
    const low = s.result.frames.filter((f) => f.confidence === "low" && f.depth === null);
    if (low.length) {
      out.push("");
      out.push(c.bold(`${pid}frame-shaped data that is not a live frame (low confidence):`));
      for (const f of low) {
        out.push(`  ucontext ${hex(f.ucontext)}  fpstate ${hex(f.fpstate)}  ${f.signalName}`);
        for (const r of f.reasons) out.push(`    - ${r}`);
      }
    }
    if (all && s.result.rejected.length) {
      out.push("");
      out.push(c.bold(`${pid}rejected magic1 hits:`));
      out.push(
        renderTable(
          [{ header: "magic1" }, { header: "code" }, { header: "reason" }],
          s.result.rejected.map((r) => [hex(r.magic1), r.code, r.reason]),
          "  ",
        ),
      );
    }
  }
  const hits = scans.reduce((n, s) => n + s.result.magic1Hits, 0);
  const rej = scans.reduce((n, s) => n + s.result.rejectedTotal, 0);
  const bytes = scans.reduce((n, s) => n + s.result.bytesScanned, 0);
  out.push("");
  out.push(
    c.dim(
      `${(bytes / 2 ** 20).toFixed(2)} MiB scanned; ${hits} magic1 hit${hits === 1 ? "" : "s"} ${all ? "at any alignment" : "at fpstate+464 (fpstate 64-byte aligned)"}, ${rej} not a frame${all ? "" : " (--all lists them)"}`,
    ),
  );
  for (const n of [...target.notes, ...scans.flatMap((s) => s.result.notes)]) out.push(c.dim(`note: ${n}`));
  const missing = scans.flatMap((s) => s.result.missing);
  if (missing.length) {
    const total = missing.reduce((n, m) => n + (m.end - m.start), 0n);
    out.push(
      c.dim(
        `note: ${missing.length} range(s), ${total} bytes, are mapped but not in the image (not scanned)`,
      ),
    );
  }
  return out.join("\n");
}
