/** Migration check: `sigframe check --from A --to B [--kernel K | --policy P]`, findings first. */

import { type CheckReport, criuWords } from "../../../src/core/compat/check-hosts.ts";
import { FINDING_CODES, type Finding, type Severity } from "../../../src/core/compat/index.ts";
import { hex } from "../../../src/core/hex.ts";
import { POLICIES, POLICY_KERNELS } from "../../../src/core/sigreturn/index.ts";
import { componentNames } from "../../../src/core/xsave/report.ts";
import { h, nextId, replace } from "../dom.ts";
import { errorLine } from "../errors.ts";
import { checkFor, kernelFromText, type ScannedImage, scanFolder, scanUpload } from "../model.ts";
import { dropTarget, fileInput, folderInput, type ProfileStore } from "../profiles.ts";
import { kernelField } from "./layout.ts";
import { redraw, viewParts, viewPicker, viewSection } from "./view.ts";

const SECTION: Record<Severity, string> = { error: "Errors", warning: "Warnings", info: "Info" };

export function checkView(store: ProfileStore): HTMLElement {
  const parts = viewParts();
  const from = viewPicker(store, parts, "From (source host)", "intel-icelake-server", () => render());
  const to = viewPicker(store, parts, "To (destination host)", "amd-zen5", () => render());
  const kernel = kernelField(() => render());
  const polId = nextId("policy");
  const policy = h(
    "select",
    { id: polId },
    h("option", { value: "" }, "all three"),
    POLICIES.map((p) => h("option", { value: p }, p)),
  );
  policy.addEventListener("change", () => render());

  // `check --checkpoint/--core`: a checkpoint archive or a core (plain or compressed), scanned here.
  let image: ScannedImage | undefined;
  const imageId = nextId("image-file");
  const folderId = nextId("image-folder");
  const imageStatus = h("span", { class: "image-status", "data-testid": "check-image" }, "none");
  const clear = h("button", { type: "button", hidden: true }, "Clear");
  const loadImage = async (f: File) => scanImage(f.name, () => scanUpload(f));
  const loadFolder = async (files: File[]) => {
    const top = files[0]?.webkitRelativePath.split("/")[0] || "folder";
    await scanImage(top, () => scanFolder(files, top));
  };
  const scanImage = async (name: string, scan: () => Promise<ScannedImage>) => {
    parts.err.show(undefined);
    imageStatus.textContent = `scanning ${name}…`;
    try {
      image = await scan();
      imageStatus.textContent = `${image.name}: ${image.kind}, ${image.liveFrames} live signal frame${image.liveFrames === 1 ? "" : "s"}${image.cpuSource ? `, source CPU from ${image.cpuSource}` : ""}`;
      clear.hidden = false;
      render();
    } catch (e) {
      console.error(e);
      image = undefined;
      imageStatus.textContent = "none";
      parts.err.show(errorLine(e, name));
    }
  };
  clear.addEventListener("click", () => {
    image = undefined;
    imageStatus.textContent = "none";
    clear.hidden = true;
    render();
  });
  const imageField = h(
    "div",
    { class: "field" },
    h("label", { for: imageId, class: "button" }, "Open checkpoint or core…"),
    fileInput(imageId, (f) => void loadImage(f)),
    h("label", { for: folderId, class: "button" }, "Open image folder…"),
    folderInput(folderId, (files) => void loadFolder(files)),
    h("span", {}, " frames and source CPU from: "),
    imageStatus,
    clear,
  );
  dropTarget(imageField, (f) => void loadImage(f));

  const render = (): void =>
    redraw(parts, async () => {
      // With a checkpoint or core, A is the CPU it records (as `check --checkpoint` without --from).
      const fromSelect = from.el.querySelector("select");
      if (fromSelect) fromSelect.disabled = Boolean(image);
      const pa = image ? undefined : from.value();
      const pb = to.value();
      if ((!pa && !image) || !pb) {
        replace(parts.out);
        return;
      }
      const choice: Parameters<typeof checkFor>[2] = { policy: policy.value };
      const k = kernelFromText(kernel.input.value);
      if (k) choice.kernel = k;
      replace(parts.out, report(await checkFor(pa, pb, choice, image)));
    });

  const view = viewSection(
    parts,
    "Check",
    "Will a process's FPU and vector state come back intact when it moves from one host to another? Kernel-written frames and restorer-built ones, under each sigreturn policy.",
    [
      from.el,
      to.el,
      imageField,
      kernel.el,
      h("div", { class: "field" }, h("label", { for: polId }, "Sigreturn policy"), policy),
    ],
  );
  render();
  return view;
}

function report(r: CheckReport): HTMLElement {
  const host = (label: string, x: CheckReport["from"]) =>
    h(
      "li",
      { class: "mono" },
      `${label} ${x.name}: ${x.cpu ?? x.vendor}, XCR0 ${hex(x.xcr0)}, ${x.xsave ? `user_size ${x.userSize}` : "FXSAVE only"}`,
    );
  const all = r.evaluated.length === 3;
  const sections: HTMLElement[] = [];
  for (const sev of ["error", "warning", "info"] as Severity[]) {
    const fs = r.findings.filter((f) => f.severity === sev);
    if (fs.length === 0) continue;
    sections.push(findingTable(sev, fs));
  }
  const { answer: criuWord, assessment: assess } = criuWords(r.criu);
  return h(
    "div",
    {},
    h(
      "p",
      { class: `verdict verdict-${r.verdict}`, "data-testid": "check-verdict" },
      `verdict: ${r.verdict} (exit ${r.exitCode})`,
    ),
    h(
      "ul",
      { class: "plain" },
      host("from", r.from),
      host("to  ", r.to),
      h("li", { class: "mono" }, `uses ${hex(r.uses)} (${componentNames(r.uses)})`),
      h(
        "li",
        { class: "mono" },
        `kernel policies ${r.evaluated.join(", ")}${all ? " (all: give a Linux version or a policy to choose)" : ""}`,
      ),
      r.note ? h("li", { class: "note" }, `note: ${r.note}`) : null,
    ),
    sections.length
      ? sections
      : h(
          "p",
          { class: "verdict verdict-compatible" },
          "no findings: every evaluated frame restores every component from where it was written",
        ),
    h("h3", {}, "By policy"),
    h(
      "table",
      { class: "policies" },
      h("caption", { class: "visually-hidden" }, "Verdict under each sigreturn policy"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "policy"),
          h("th", { scope: "col" }, "kernels"),
          h("th", { scope: "col" }, "verdict"),
        ),
      ),
      h(
        "tbody",
        {},
        POLICIES.map((p) => {
          const x = r.policies[p];
          return h(
            "tr",
            { "data-policy": p, class: x.selected ? "" : "not-selected" },
            h("th", { scope: "row" }, p),
            h("td", {}, POLICY_KERNELS[p]),
            h(
              "td",
              {},
              h("span", { class: `badge verdict-${x.verdict}` }, x.verdict),
              x.selected ? "" : " (not selected)",
            ),
          );
        }),
      ),
    ),
    h(
      "p",
      { "data-testid": "check-criu" },
      `CRIU 'cpuinfo check' (--cpu-cap=fpu): ${criuWord}: ${r.criu.reason} (${assess})`,
    ),
  );
}

function findingTable(sev: Severity, fs: Finding[]): HTMLElement {
  const codes = [...new Set(fs.map((f) => f.code))];
  return h(
    "section",
    { class: `findings findings-${sev}` },
    h("h3", {}, `${SECTION[sev]} (${fs.length})`),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { "data-severity": sev },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["code", "component", "policies", "frames", "what happens"].map((c) =>
              h("th", { scope: "col" }, c),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          fs.map((f) =>
            h(
              "tr",
              { "data-code": f.code },
              h("td", { class: "mono" }, f.code),
              h("td", {}, f.component ?? "-"),
              h(
                "td",
                {},
                f.policies && f.policies.length < 3 ? f.policies.join(", ") : f.policies ? "all" : "-",
              ),
              h("td", { class: "mono" }, f.frames?.join(", ") ?? "-"),
              h("td", {}, f.message),
            ),
          ),
        ),
      ),
    ),
    h(
      "dl",
      { class: "hints" },
      codes.flatMap((c) => [h("dt", { class: "mono" }, c), h("dd", {}, FINDING_CODES[c].hint)]),
    ),
  );
}
