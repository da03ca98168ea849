/** The layout of one CPU: `sigframe layout PROFILE [--kernel K] [--amx]` as a table and a byte map. */
import { describeProfile } from "../../../src/core/profile.ts";
import { componentRows, layoutHeader } from "../../../src/core/xsave/report.ts";
import { layoutSvg } from "../../../src/core/xsave/svg.ts";
import { h, nextId, replace } from "../dom.ts";
import { kernelFromText, layoutFor } from "../model.ts";
import type { ProfileStore } from "../profiles.ts";
import { byteMap, redraw, viewParts, viewPicker, viewSection } from "./view.ts";

export function kernelField(onInput: () => void): { el: HTMLElement; input: HTMLInputElement } {
  const id = nextId("kernel");
  const input = h("input", {
    id,
    type: "text",
    inputmode: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. 6.18",
    title: "Linux release X.Y[.Z][-rcN]; empty: the newest rules",
    size: 14,
  });
  input.addEventListener("input", onInput);
  return { el: h("div", { class: "field" }, h("label", { for: id }, "Linux version"), input), input };
}

export function layoutView(store: ProfileStore): HTMLElement {
  const parts = viewParts();
  const picker = viewPicker(store, parts, "CPU profile", "intel-icelake-server", () => render());
  const kernel = kernelField(() => render());
  const amxId = nextId("amx");
  const amx = h("input", { type: "checkbox", id: amxId });
  amx.addEventListener("change", () => render());

  const render = (): void =>
    redraw(parts, () => {
      const p = picker.value();
      if (!p) {
        replace(parts.out);
        return;
      }
      const choice: Parameters<typeof layoutFor>[1] = { amx: amx.checked };
      const k = kernelFromText(kernel.input.value);
      if (k) choice.kernel = k;
      const l = layoutFor(p, choice);
      const head = layoutHeader(p, l);
      const rows = componentRows(l);
      const table = h(
        "table",
        { class: "components", "data-testid": "layout-table" },
        h("caption", {}, `XSAVE components of ${p.name}`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["bit", "component", "size", "offset", "compacted", "flags", "state"].map((c) =>
              h(
                "th",
                {
                  scope: "col",
                  class: ["bit", "size", "offset", "compacted"].includes(c) ? "num" : undefined,
                },
                c,
              ),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          rows.map((r) =>
            h(
              "tr",
              { "data-component": r.name, class: r.state === "in frames" ? "enabled" : "disabled" },
              h("td", { class: "num" }, r.bit),
              h("th", { scope: "row", title: r.description }, r.name),
              h("td", { class: "num", "data-col": "size" }, r.size),
              h("td", { class: "num", "data-col": "offset" }, r.offset),
              h("td", { class: "num", "data-col": "compacted" }, r.compacted),
              h("td", { "data-col": "flags" }, r.flags),
              h(
                "td",
                { "data-col": "state" },
                h("span", { class: `state state-${r.state.replace(" ", "-")}` }, r.state),
                r.reason ? `: ${r.reason}` : "",
              ),
            ),
          ),
        ),
      );
      replace(
        parts.out,
        h("h3", {}, head.title),
        h(
          "dl",
          { class: "facts" },
          fact("XCR0", head.xcr0, "xcr0"),
          fact("user_size", String(l.userSize), "userSize"),
          fact("max (with AMX)", String(l.maxUserSize), "maxUserSize"),
          fact("CPUID(0xD,0).ECX", String(l.maxSize), "maxSize"),
        ),
        h("p", { class: "mono", "data-testid": "layout-frame" }, head.frame),
        h("div", { class: "table-wrap" }, table),
        p.notes.length || l.warnings.length
          ? h(
              "ul",
              { class: "notes" },
              p.notes.map((n) => h("li", {}, `note: ${n}`)),
              l.warnings.map((w) => h("li", { class: "warning" }, `warning: ${w}`)),
            )
          : null,
        byteMap(
          layoutSvg([{ label: p.name, layout: l }], `XSAVE layout: ${describeProfile(p)}`),
          `Byte map of the XSAVE area of ${p.name}: each enabled component at its standard offset; magic2 at ${l.userSize}`,
          "Byte map: components at their standard offsets; red mark: magic2 at xstate_size.",
        ),
      );
    });

  const view = viewSection(
    parts,
    "Layout",
    "The XSAVE layout of a CPU and the size of the signal frames Linux writes on it.",
    [
      picker.el,
      kernel.el,
      h("div", { class: "field check" }, amx, h("label", { for: amxId }, "task has enabled AMX tile data")),
    ],
  );
  render();
  return view;
}

function fact(label: string, value: string, key: string): HTMLElement {
  return h("div", {}, h("dt", {}, label), h("dd", { class: "mono", "data-field": key }, value));
}
