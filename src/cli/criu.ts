/** `sigframe criu show FILE`: one CRIU image, as `crit decode --pretty` gives it or as a summary. */

import type { Command } from "commander";
import { decodeImage } from "../core/criu/handlers.ts";
import { looksLikeCriuImage } from "../core/criu/image.ts";
import { unknownFields } from "../core/criu/message.ts";
import { critImage, critJson, listingJson } from "../core/criu/render.ts";
import { readCriuShowInput } from "../node/criu-show.ts";
import type { CliContext } from "./context.ts";

export function register(program: Command, ctx: CliContext): void {
  const criu = program
    .command("criu")
    .summary("CRIU checkpoint images")
    .description("Work with CRIU checkpoint images.");
  criu
    .command("show")
    .summary("decode one CRIU image, or list a checkpoint's (compare: crit decode, checkpointctl inspect)")
    .description(
      "Decode one CRIU image file (core-*.img, mm-*.img, pagemap-*.img, pstree.img, cpuinfo.img, inventory.img and other small images).\n\nWith --json the output is the same document as `crit decode --pretty` (CRIU 4.2's crit): proto field names, fields CRIU marks as hex as \"0x…\" strings, flags as names, other integers as exact JSON numbers. Without it, a summary: per-thread registers and FPU/XSAVE state, VMAs, page runs.\n\nGiven a checkpoint (an image directory, or a Podman/CRI-O/kubelet archive: tar, plain, gzip or zstd; a pod's container archives included), lists its images, pages files and metadata with sizes and image types, by container. --member NAME (or ARCHIVE:NAME) decodes one image of it; NAME is the member's path or its last components (core-1.img) when they name one member.",
    )
    .argument(
      "<FILE>",
      "a CRIU image file, a checkpoint directory or archive, ARCHIVE:MEMBER, or - for stdin",
    )
    .option(
      "--member <NAME>",
      "with a checkpoint: decode this image of it (core-1.img, checkpoint/core-1.img, …)",
    )
    .option("--json", "the crit-compatible JSON document (a checkpoint: its members)")
    .action(async (file: string, flags: { json?: boolean; member?: string }) => {
      const shown = await readCriuShowInput(file, flags.member);
      if ("listing" in shown) {
        const { path, listing } = shown;
        if (flags.json) {
          const { toJson } = await import("../core/hex.ts");
          return ctx.out(toJson(listingJson(path, listing)));
        }
        const { describeContainer } = await import("../core/archive/container.ts");
        const { renderListing } = await import("./render/criu-text.ts");
        return ctx.out(renderListing(ctx, path, listing, describeContainer));
      }
      if (!looksLikeCriuImage(shown.bytes)) {
        const { metadataText } = await import("../core/archive/container.ts");
        const text = metadataText(shown.name, shown.bytes, flags.json === true);
        if (text !== undefined) return ctx.out(text);
      }
      const img = await decodeImage(shown.bytes, shown.name);
      const unknown = img.entries.flatMap((e, i) => unknownFields(e.schema, e.message, `entries/${i}`));
      // The text summary's renderers (registers, XSAVE components, tables) load only for it.
      if (flags.json) ctx.out(critJson(critImage(img)));
      else ctx.out((await import("./render/criu-text.ts")).renderImage(ctx, img));
      if (unknown.length) {
        ctx.warn(
          `${shown.name}: ${unknown.length} field(s) not described by sigframe's CRIU schemas were skipped: ${unknown.slice(0, 8).join(", ")}${unknown.length > 8 ? ", …" : ""}`,
        );
      }
    });
}
