/** Migration check: `sigframe check --from A --to B [--kernel K | --policy P]`, findings first. */
import {
  type CheckResult,
  FINDING_CODES,
  type Finding,
  POLICY_KERNELS,
  type Severity,
} from "../../../src/core/compat/index.ts";
import { bitsOf, hex } from "../../../src/core/hex.ts";
import { componentInfo } from "../../../src/core/xsave/components.ts";
import { errorSlot, h, nextId, replace } from "../dom.ts";
import { errorLine } from "../errors.ts";
import { checkFor, kernelFromText, POLICY_NAMES } from "../model.ts";
import { type ProfileStore, profilePicker } from "../profiles.ts";
import { kernelField } from "./layout.ts";

const SECTION: Record<Severity, string> = { error: "Errors", warning: "Warnings", info: "Info" };

function names(mask: bigint): string {
  return bitsOf(mask)
    .map((b) => componentInfo(b).name)
    .join(", ");
}

export function checkView(store: ProfileStore): HTMLElement {
  const err = errorSlot();
  const out = h("div", { class: "result", "aria-live": "polite" });
  const from = profilePicker(store, {
    label: "From (source host)",
    initial: "intel-icelake-server",
    onChange: () => render(),
    onError: (line) => err.show(line),
  });
  const to = profilePicker(store, {
    label: "To (destination host)",
    initial: "amd-zen5",
    onChange: () => render(),
    onError: (line) => err.show(line),
  });
  const kernel = kernelField(() => render());
  const polId = nextId("policy");
  const policy = h(
    "select",
    { id: polId },
    h("option", { value: "" }, "all three"),
    POLICY_NAMES.map((p) => h("option", { value: p }, p)),
  );
  policy.addEventListener("change", () => render());

  function render(): void {
    err.show(undefined);
    try {
      const pa = from.value();
      const pb = to.value();
      if (!pa || !pb) {
        replace(out);
        return;
      }
      const choice: Parameters<typeof checkFor>[2] = { policy: policy.value };
      const k = kernelFromText(kernel.input.value);
      if (k) choice.kernel = k;
      const { result, note } = checkFor(pa, pb, choice);
      replace(out, report(result, note));
    } catch (e) {
      console.error(e);
      replace(out);
      err.show(errorLine(e));
    }
  }

  const view = h(
    "section",
    { class: "view" },
    h("h2", {}, "Check"),
    h(
      "p",
      { class: "lead" },
      "Will a process's FPU and vector state come back intact when it moves from one host to another? Kernel-written frames and restorer-built ones, under each sigreturn policy.",
    ),
    h(
      "form",
      { class: "controls", onsubmit: (ev: Event) => ev.preventDefault() },
      from.el,
      to.el,
      kernel.el,
      h("div", { class: "field" }, h("label", { for: polId }, "Sigreturn policy"), policy),
    ),
    err.el,
    out,
  );
  render();
  return view;
}

function report(r: CheckResult, note: string | undefined): HTMLElement {
  const host = (label: string, x: CheckResult["from"]) =>
    h(
      "li",
      { class: "mono" },
      `${label} ${x.name}: ${x.vendor}, XCR0 ${hex(x.xcr0)}, ${x.xsave ? `user_size ${x.userSize}` : "FXSAVE only"}`,
    );
  const all = r.evaluated.length === 3;
  const sections: HTMLElement[] = [];
  for (const sev of ["error", "warning", "info"] as Severity[]) {
    const fs = r.findings.filter((f) => f.severity === sev);
    if (fs.length === 0) continue;
    sections.push(findingTable(sev, fs));
  }
  const criuWord = r.criu.wouldAccept ? "accepts" : "refuses";
  const assess =
    r.criu.assessment === "agrees"
      ? "agrees with this verdict"
      : r.criu.assessment === "refuses-needlessly"
        ? "refuses although the state restores"
        : "accepts although state is lost";
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
      h("li", { class: "mono" }, `uses ${hex(r.uses)} (${names(r.uses)})`),
      h(
        "li",
        { class: "mono" },
        `kernel policies ${r.evaluated.join(", ")}${all ? " (all: give a Linux version or a policy to choose)" : ""}`,
      ),
      note ? h("li", { class: "note" }, `note: ${note}`) : null,
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
        POLICY_NAMES.map((p) => {
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
