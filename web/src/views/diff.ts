/** Two layouts side by side: `sigframe diff A B [--kernel K]`. */
import { layoutSvg } from "../../../src/core/xsave/svg.ts";
import { h, replace } from "../dom.ts";
import { diffFor, kernelFromText } from "../model.ts";
import type { ProfileStore } from "../profiles.ts";
import { kernelField } from "./layout.ts";
import { byteMap, redraw, viewParts, viewPicker, viewSection } from "./view.ts";

const STATUS_TEXT: Record<string, string> = {
  same: "same",
  "only-a": "only in A",
  "only-b": "only in B",
  "different-offset": "different offset",
  "different-size": "different size",
  neither: "neither",
};

export function diffView(store: ProfileStore): HTMLElement {
  const parts = viewParts();
  const a = viewPicker(store, parts, "A", "intel-icelake-server", () => render());
  const b = viewPicker(store, parts, "B", "amd-zen5", () => render());
  const kernel = kernelField(() => render());

  const render = (): void =>
    redraw(parts, () => {
      const pa = a.value();
      const pb = b.value();
      if (!pa || !pb) {
        replace(parts.out);
        return;
      }
      const k = kernelFromText(kernel.input.value);
      const v = diffFor(pa, pb, k ? { kernel: k } : {});
      const d = v.diff;
      const side = (x: { offset: number; size: number } | null) => (x ? `${x.offset}+${x.size}` : "-");
      replace(
        parts.out,
        h(
          "div",
          { class: "sides" },
          h(
            "p",
            { class: "mono", "data-side": "a" },
            `A ${pa.name}: XCR0 ${d.a.xcr0}, user_size `,
            h("span", { "data-field": "userSize" }, d.a.userSize),
          ),
          h(
            "p",
            { class: "mono", "data-side": "b" },
            `B ${pb.name}: XCR0 ${d.b.xcr0}, user_size `,
            h("span", { "data-field": "userSize" }, d.b.userSize),
          ),
        ),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "components diff", "data-testid": "diff-table" },
            h("caption", {}, `Enabled components: ${pa.name} (A) vs ${pb.name} (B), as offset+size`),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { scope: "col", class: "num" }, "bit"),
                h("th", { scope: "col" }, "component"),
                h("th", { scope: "col", class: "num" }, "A offset+size"),
                h("th", { scope: "col", class: "num" }, "B offset+size"),
                h("th", { scope: "col" }, "status"),
              ),
            ),
            h(
              "tbody",
              {},
              d.components.map((c) =>
                h(
                  "tr",
                  { "data-component": c.name, class: `status-${c.status}` },
                  h("td", { class: "num" }, c.bit),
                  h("th", { scope: "row" }, c.name),
                  h("td", { class: "num", "data-col": "a" }, side(c.a)),
                  h("td", { class: "num", "data-col": "b" }, side(c.b)),
                  h(
                    "td",
                    { "data-col": "status" },
                    h("span", { class: `badge badge-${c.status}` }, STATUS_TEXT[c.status] ?? c.status),
                  ),
                ),
              ),
            ),
          ),
        ),
        h(
          "p",
          { class: d.identical ? "verdict ok" : "verdict bad", "data-testid": "diff-summary" },
          v.summary,
        ),
        byteMap(
          layoutSvg(
            [
              { label: `A ${pa.name}`, layout: v.a },
              { label: `B ${pb.name}`, layout: v.b },
            ],
            `XSAVE layouts: ${pa.name} vs ${pb.name}`,
          ),
          `Byte maps of ${pa.name} and ${pb.name}, one above the other on a common byte scale`,
          "Both layouts on one byte scale: shifted blocks are components at different offsets.",
        ),
      );
    });

  const view = viewSection(
    parts,
    "Diff",
    "Two CPUs component by component: where a frame written on one puts each component, and where the other looks for it.",
    [a.el, b.el, kernel.el],
  );
  render();
  return view;
}
