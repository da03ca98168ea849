/** `sigframe baseline P1 P2 …`: the largest feature set whose XSAVE state is portable across hosts. */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { type BaselineResult, baseline } from "../core/compat/index.ts";
import { isSigframeError, UsageError } from "../core/errors.ts";
import { hex, toJson } from "../core/hex.ts";
import { type MxcsrMask, mxcsrMaskOf } from "../core/mxcsr.ts";
import { displayName, type Profile } from "../core/profile.ts";
import type { LayoutOptions, XsaveLayout } from "../core/xsave/layout.ts";
import { profileLayout } from "../core/xsave/options.ts";
import { componentNames } from "../core/xsave/report.ts";
import { isCheckpointDir } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

interface LoadedHost {
  name: string;
  profile: Profile;
  layout: XsaveLayout;
  /** Measured, or estimated from CPUID. */
  mxcsrMask: MxcsrMask;
}

/** Files of a folder that may be profiles (the corpus's index and log are not). */
function profileFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(json|txt|img|cpuid)$/i.test(f) && f !== "index.json" && f !== "conversion-log.json")
    .sort()
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile());
}

/**
 * PROFILE arguments, where a folder stands for every profile file in it. Files of a folder that
 * are not profiles are skipped with a warning; a named file that fails is an error.
 */
export async function loadHosts(
  ctx: CliContext,
  args: string[],
  kernel?: LayoutOptions,
): Promise<LoadedHost[]> {
  const out: LoadedHost[] = [];
  const seen = new Map<string, number>();
  const add = (arg: string, p: Profile) => {
    let name = displayName(p, arg);
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    if (n > 0) name = `${name}#${n + 1}`;
    out.push({
      name,
      profile: p,
      layout: profileLayout(p, kernel ?? {}),
      mxcsrMask: mxcsrMaskOf(p),
    });
  };
  const skipped: { file: string; why: string }[] = [];
  for (const arg of args) {
    let isDir = false;
    try {
      // A checkpoint directory is one host (the CPU it was taken on), not a folder of profiles.
      isDir = arg !== "-" && statSync(arg).isDirectory() && !isCheckpointDir(arg);
    } catch {
      isDir = false;
    }
    if (!isDir) {
      add(arg, await loadProfile(arg));
      continue;
    }
    const before = out.length;
    const skippedHere: { file: string; why: string }[] = [];
    for (const f of profileFiles(arg)) {
      try {
        add(f, await loadProfile(f));
      } catch (e) {
        if (!isSigframeError(e)) throw e;
        skippedHere.push({ file: f, why: e.message });
      }
    }
    // One rule for every fleet command: a folder that yields no host is bad input, whatever else
    // is named beside it (an empty fleet is a mistake, not a fleet of zero). Bad input ends in the
    // one error line, so the skipped files are summed up in it, not warned.
    if (out.length === before) {
      const first = skippedHere[0];
      throw new UsageError(
        first
          ? `no readable profile in this folder (${skippedHere.length} file${skippedHere.length === 1 ? "" : "s"} skipped; ${first.file}: ${first.why})`
          : "no profile files (*.json, *.txt, *.img, *.cpuid) in this folder",
        { input: arg },
      );
    }
    skipped.push(...skippedHere);
  }
  if (out.length === 0) throw new UsageError("no hosts given", { input: "PROFILE" });
  for (const s of skipped) ctx.warn(`${s.file}: skipped: ${s.why}`);
  return out;
}

function baselineJson(r: BaselineResult): Record<string, unknown> {
  return {
    mask: r.mask,
    components: r.components,
    frameSize: r.frameSize,
    fxsaveOnly: r.fxsaveOnly,
    excluded: r.excluded,
    hosts: r.hosts,
  };
}

function renderBaseline(ctx: CliContext, r: BaselineResult): string {
  const { c } = ctx;
  const lines: string[] = [];
  lines.push(
    c.bold(
      `portable across ${r.hosts.length} host${r.hosts.length === 1 ? "" : "s"}: ${hex(r.mask)} (${componentNames(r.mask)}), frames of ${r.frameSize} bytes (xstate_size)`,
    ),
  );
  if (r.fxsaveOnly)
    lines.push(c.yellow("a host does not use XSAVE: only the 512-byte FXSAVE region is portable"));
  if (r.components.length) {
    lines.push("");
    lines.push(
      renderTable(
        [
          { header: "bit", align: "right" },
          { header: "component" },
          { header: "offset", align: "right" },
          { header: "size", align: "right" },
        ],
        r.components.map((x) => [String(x.bit), x.name, String(x.offset), String(x.size)]),
        "  ",
      ),
    );
  }
  if (r.excluded.length) {
    lines.push("");
    lines.push("excluded:");
    lines.push(
      renderTable(
        [{ header: "bit", align: "right" }, { header: "component" }, { header: "why" }],
        r.excluded.map((e) => [String(e.bit), e.name, e.reason]),
        "  ",
      ),
    );
  }
  const beyond = r.hosts.filter((h) => h.beyond);
  if (beyond.length) {
    lines.push("");
    lines.push(
      "hosts whose kernel saves more than the baseline (limit XCR0 there, or keep processes off it):",
    );
    lines.push(
      renderTable(
        [{ header: "host" }, { header: "user_size", align: "right" }, { header: "beyond the baseline" }],
        beyond.map((h) => [h.name, String(h.userSize), componentNames(h.beyond)]),
        "  ",
      ),
    );
  }
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("baseline")
    .summary("the largest portable feature set across hosts")
    .description(
      "The largest user feature mask whose XSAVE state is portable across all the hosts given (present on every host, same standard-format offset and size), the frame size it gives, and which host excludes which component. A folder stands for every profile in it.",
    )
    .argument("<PROFILE...>", "host, built-in names, profile files or folders")
    .option("--json", "JSON output")
    .action(async (args: string[], flags: { json?: boolean }) => {
      const hosts = await loadHosts(ctx, args);
      const r = baseline(hosts.map((h) => ({ name: h.name, layout: h.layout })));
      if (flags.json) ctx.out(toJson(baselineJson(r)));
      else ctx.out(renderBaseline(ctx, r));
    });
}
