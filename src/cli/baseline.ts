/** `sigframe baseline P1 P2 …`: the largest feature set whose XSAVE state is portable across hosts. */
import type { Command } from "commander";
import { baselineJson, baselineReport, type FleetEnv } from "../core/compat/fleet-report.ts";
import type { BaselineResult } from "../core/compat/index.ts";
import { hex, toJson } from "../core/hex.ts";
import { componentNames } from "../core/xsave/report.ts";
import { profileFolderFiles } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

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

/** Where the fleet commands read their hosts: profile files, folders of them, built-in names. */
export function fleetEnv(ctx: CliContext): FleetEnv {
  return { loadProfile, folderFiles: profileFolderFiles, warn: (t) => ctx.warn(t) };
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
      const r = await baselineReport({ profiles: args }, fleetEnv(ctx));
      ctx.out(flags.json ? toJson(baselineJson(r)) : renderBaseline(ctx, r));
    });
}
