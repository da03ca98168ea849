/**
 * Scan: `sigframe scan FILE` in the page. A checkpoint (archive, or an image folder) or a core
 * (plain or compressed) is scanned by the core's streaming readers; every thread's signal frames
 * are listed as the CLI lists them, and a live frame opens in Inspect as `scan --save-frames`
 * writes it (pretcode to the end of its FPU area, at its address, with the image's source CPU).
 */
import { hex } from "../../../src/core/hex.ts";
import { describeProfile } from "../../../src/core/profile.ts";
import { frameFileBytes, frameFileName, readAsFor } from "../../../src/core/scan/frame-state.ts";
import type { FoundFrame } from "../../../src/core/scan/scan.ts";
import { h, nextId, replace } from "../dom.ts";
import { errorLine } from "../errors.ts";
import { type ScannedImage, scanFolder, scanUpload } from "../model.ts";
import { dropTarget, fileInput, folderInput, type ProfileStore } from "../profiles.ts";
import type { Explorer } from "./view.ts";
import { viewParts, viewSection } from "./view.ts";

const COLUMNS = [
  "",
  "process",
  "thread",
  "depth",
  "signal",
  "ucontext",
  "fpstate",
  "xstate_size",
  "xfeatures",
  "xstate_bv",
  "interrupted rip",
  "stack",
  "confidence",
];

export function scanView(store: ProfileStore, app: Explorer): HTMLElement {
  const parts = viewParts();
  const fileId = nextId("scan-file");
  const folderId = nextId("scan-folder");
  const status = h("span", { class: "file-name", "data-testid": "scan-status" }, "nothing opened");
  let generation = 0;
  const show = async (name: string, scan: () => Promise<ScannedImage>) => {
    const mine = ++generation;
    parts.err.show(undefined);
    replace(parts.out);
    status.textContent = `scanning ${name}…`;
    try {
      const image = await scan();
      if (mine !== generation) return;
      status.textContent = name;
      replace(parts.out, report(image, store, app));
    } catch (e) {
      console.error(e);
      if (mine !== generation) return;
      status.textContent = "nothing opened";
      parts.err.show(errorLine(e, name));
    }
  };
  const openFile = (f: File) => void show(f.name, () => scanUpload(f));
  const openFolder = (files: File[]) => {
    const top = files[0]?.webkitRelativePath.split("/")[0] || "folder";
    void show(top, () => scanFolder(files, top));
  };
  const drop = h(
    "div",
    { class: "dropzone" },
    h("label", { for: fileId, class: "button primary" }, "Open checkpoint or core…"),
    fileInput(fileId, openFile),
    h("label", { for: folderId, class: "button" }, "Open image folder…"),
    folderInput(folderId, openFolder),
    " or drop a file here: ",
    status,
  );
  dropTarget(drop, openFile);
  const view = viewSection(
    parts,
    "Scan",
    "The signal frames on the stacks of a CRIU checkpoint (an image folder, or a Podman/CRI-O archive: tar, gzip or zstd) or an ELF core (plain or zstd/xz/lz4-compressed), thread by thread and nested; open a live frame in Inspect.",
    [drop],
  );
  replace(
    parts.out,
    h("p", { class: "hint" }, "Open or drop a checkpoint or a core: nothing leaves this page."),
  );
  return view;
}

function stackOf(f: FoundFrame): string {
  return f.onAltstack ? "altstack" : (f.region?.name ?? (f.region ? "anonymous" : "-"));
}

function report(image: ScannedImage, store: ProfileStore, app: Explorer): HTMLElement {
  const out: HTMLElement[] = [];
  const threads = image.parts.reduce(
    (n, p) => n + p.scans.reduce((m, s) => m + s.result.threads.length, 0),
    0,
  );
  const processes = image.parts.reduce((n, p) => n + p.scans.length, 0);
  out.push(
    h(
      "p",
      { class: "verdict", "data-testid": "scan-summary" },
      `${image.name}: ${image.kind === "core" ? "ELF core" : "CRIU checkpoint"}, ${processes} process${processes === 1 ? "" : "es"}, ${threads} thread${threads === 1 ? "" : "s"}: ${image.liveFrames} live signal frame${image.liveFrames === 1 ? "" : "s"}`,
    ),
  );
  const multi = image.parts.length > 1;
  for (const part of image.parts) {
    const t = part.target;
    const lines: HTMLElement[] = [];
    if (multi) lines.push(h("h3", {}, t.container?.name ?? t.name));
    lines.push(
      h(
        "p",
        { class: "mono", "data-testid": "scan-source" },
        t.profile
          ? `source CPU${t.cpuSource ? ` (from ${t.cpuSource})` : ""}: ${describeProfile(t.profile)}, XCR0 ${hex(t.profile.xcr0 ?? 3n)}`
          : "source CPU: not recorded (frames are read at the offsets of the layout that gives their size)",
      ),
    );
    // The image's CPU is offered in every picker once, for Inspect's --cpu.
    let profileId: string | undefined;
    const sourceId = () => {
      if (!t.profile) return undefined;
      profileId ??= store.add(t.profile, `${t.name} (source CPU) — ${describeProfile(t.profile)}`);
      return profileId;
    };
    const rows: HTMLElement[] = [];
    for (const s of part.scans) {
      for (const f of s.result.frames) {
        const bytes = f.confidence === "high" ? frameFileBytes(f, s.process.memory) : undefined;
        const name = frameFileName(f, part.scans.length > 1 ? s.pid : undefined);
        const open = bytes
          ? h(
              "button",
              {
                type: "button",
                "aria-label": `Inspect ${name}`,
                onclick: () =>
                  app.inspect({
                    bytes,
                    name,
                    base: hex(f.frame),
                    cpu: sourceId(),
                    note: `${name} from ${image.name}: the frame at ${hex(f.frame)}, read as ${readAsFor(f, t.profile).text}`,
                  }),
              },
              "Inspect",
            )
          : null;
        rows.push(
          h(
            "tr",
            {
              "data-ucontext": hex(f.ucontext),
              class: f.confidence === "high" ? "" : "not-selected",
              title: f.reasons.join("; ") || undefined,
            },
            h("td", {}, open),
            h("td", { class: "num" }, s.pid === undefined ? "-" : s.pid),
            h("td", { class: "num" }, f.thread ? String(f.thread.tid ?? `#${f.thread.index}`) : "-"),
            h("td", { class: "num", "data-col": "depth" }, f.depth === null ? "-" : f.depth),
            h("td", { "data-col": "signal" }, f.signalName),
            h("td", { class: "mono" }, hex(f.ucontext)),
            h("td", { class: "mono" }, hex(f.fpstate)),
            h("td", { class: "num", "data-col": "xstate_size" }, f.sw.xstateSize),
            h("td", { class: "mono" }, hex(f.sw.xfeatures)),
            h("td", { class: "mono" }, hex(f.xstateBv)),
            h("td", { class: "mono" }, hex(f.sigcontext.rip)),
            h("td", { "data-col": "stack" }, stackOf(f)),
            h("td", { "data-col": "confidence" }, f.confidence, f.reasons.length ? ` (${f.reasons[0]})` : ""),
          ),
        );
      }
    }
    const idle = part.scans.flatMap((s) =>
      s.result.threads
        .filter((r) => r.frames.length === 0)
        .map((r) => String(r.thread.tid ?? `#${r.thread.index}`)),
    );
    lines.push(
      rows.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "frames", "data-testid": "scan-frames" },
              h("caption", { class: "visually-hidden" }, `Signal frames in ${t.name}`),
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  COLUMNS.map((c) => h("th", { scope: "col" }, c)),
                ),
              ),
              h("tbody", {}, rows),
            ),
          )
        : h("p", { class: "hint" }, "no signal frames on the stacks"),
    );
    if (idle.length)
      lines.push(
        h(
          "p",
          { class: "hint" },
          `not in a signal handler: thread${idle.length === 1 ? "" : "s"} ${idle.join(", ")}`,
        ),
      );
    const notes = [...t.notes, ...part.scans.flatMap((s) => s.result.notes)];
    if (notes.length)
      lines.push(
        h(
          "ul",
          { class: "notes" },
          notes.map((n) => h("li", {}, `note: ${n}`)),
        ),
      );
    out.push(h("section", {}, lines));
  }
  return h("div", {}, out);
}
