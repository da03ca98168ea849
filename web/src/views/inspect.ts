/**
 * The frame inspector: `sigframe inspect FILE [--fpstate-only] [--base ADDR] [--cpu PROFILE]` with
 * an annotated field table, a hexdump that highlights the field under the pointer, and what
 * sigreturn does with the frame under each kernel policy (`sigframe predict`).
 */
import type { Profile } from "../../../src/core/profile.ts";
import { buildFrame, emptyState, setRegister } from "../../../src/core/sigframe/index.ts";
import { h, nextId, replace } from "../dom.ts";
import { errorLine } from "../errors.ts";
import { type FieldRow, type InputKind, type InspectResult, inspectBytes } from "../frame-model.ts";
import { kernelFromText, layoutFor } from "../model.ts";
import { dropTarget, fileBytes, fileInput, type ProfileStore, profilePicker } from "../profiles.ts";
import { kernelField } from "./layout.ts";
import { type Explorer, redraw, viewParts, viewSection } from "./view.ts";

/** Bytes shown in the hexdump (a frame with AMX state is about 11.5 KiB). */
const HEX_LIMIT = 64 * 1024;

/** What Inspect shows before a file is opened: a frame built in the page for this CPU. */
const SAMPLE_CPU = "intel-icelake-server";

export function inspectView(store: ProfileStore, app?: Explorer): HTMLElement {
  const parts = viewParts();
  const { err, out } = parts;
  let current: { bytes: Uint8Array; name: string } | undefined;

  const fileId = nextId("frame-file");
  const fileName = h("span", { class: "file-name", "data-testid": "inspect-file" }, "no file");
  // Where the frame shown came from (a sample, a file, a frame found by Scan).
  const origin = h("p", { class: "hint inspect-origin", "data-testid": "inspect-origin" });
  // A frame from Scan comes with its address and format; a file opened after it starts afresh.
  let handed = false;
  const load = async (f: File) => {
    if (handed) {
      kind.value = "auto";
      base.value = "";
      handed = false;
    }
    current = { bytes: await fileBytes(f), name: f.name };
    fileName.textContent = `${f.name} (${current.bytes.length} bytes)`;
    origin.textContent = "";
    render();
  };
  const drop = h(
    "div",
    { class: "dropzone" },
    h("label", { for: fileId, class: "button primary" }, "Open frame file…"),
    fileInput(fileId, (f) => void load(f)),
    " or drop a file here: ",
    fileName,
  );
  dropTarget(drop, (f) => void load(f));

  const kindId = nextId("kind");
  const kind = h(
    "select",
    { id: kindId },
    h("option", { value: "auto" }, "auto-detect"),
    h("option", { value: "frame" }, "rt_sigframe (from pretcode)"),
    h("option", { value: "ucontext" }, "SROP payload (from uc_flags)"),
    h("option", { value: "fpstate" }, "FPU area only (--fpstate-only)"),
  );
  kind.addEventListener("change", () => render());
  const baseId = nextId("base");
  const base = h("input", {
    id: baseId,
    type: "text",
    placeholder: "0x7ffc… (optional)",
    size: 20,
    spellcheck: "false",
  });
  base.addEventListener("input", () => render());
  const cpu = profilePicker(store, {
    label: "Receiving CPU (--cpu)",
    none: "(none: decode without a CPU)",
    initial: "",
    onChange: () => render(),
    onError: (line) => err.show(line),
  });
  const kernel = kernelField(() => render());
  const sample = h("button", { type: "button" }, "Sample frame for this CPU");
  const showSample = (p: Profile, first: boolean) => {
    err.show(undefined);
    try {
      const l = layoutFor(p);
      const st = emptyState();
      setRegister(st, "rip", 0x401136n);
      setRegister(st, "rsp", 0x7ffffffdd000n);
      setRegister(st, "xmm0", 0x3ff00000000000004000000000000000n);
      if (l.components.some((c) => c.enabled && c.name === "YMM"))
        setRegister(st, "ymm1", (1n << 255n) | 0x2an);
      if (l.components.some((c) => c.enabled && c.name === "OPMASK")) setRegister(st, "k1", 0xffn);
      const built = buildFrame({ style: "kernel", layout: l, state: st });
      current = { bytes: built.bytes, name: `sample-${p.name}.frame` };
      fileName.textContent = `${current.name} (${built.bytes.length} bytes, built in the page)`;
      origin.textContent = first
        ? `No file opened yet: this is a sample frame, as the kernel writes it on ${p.name} (xmm0, and ymm1 and k1 where it has them, set). Open or drop a frame file, or open one found by Scan.`
        : `A sample frame, as the kernel writes it on ${p.name} (xmm0, and ymm1 and k1 where it has them, set).`;
      render();
    } catch (e) {
      console.error(e);
      err.show(errorLine(e));
    }
  };
  sample.addEventListener("click", () => showSample(cpu.value() ?? store.get(SAMPLE_CPU)!, false));
  // Scan hands over a frame it found: the bytes from pretcode, at their address, with the image's CPU.
  app?.onInspect((f) => {
    current = { bytes: f.bytes, name: f.name };
    handed = true;
    kind.value = "frame";
    base.value = f.base;
    fileName.textContent = `${f.name} (${f.bytes.length} bytes)`;
    origin.textContent = f.note;
    if (f.cpu) cpu.choose(f.cpu);
    else render();
  });

  const render = (): void =>
    redraw(parts, () => {
      if (!current) {
        replace(
          out,
          h("p", { class: "hint" }, "Open or drop a signal frame or FPU area, or build a sample for a CPU."),
        );
        return;
      }
      const p = cpu.value();
      const opts: Parameters<typeof inspectBytes>[2] = { kind: kind.value as InputKind, base: base.value };
      const k = kernelFromText(kernel.input.value);
      if (k) opts.kernel = k;
      if (p) opts.cpu = p;
      const r = inspectBytes(current.bytes, current.name, opts);
      replace(out, report(r, current.bytes));
    });

  const view = viewSection(
    parts,
    "Inspect",
    "Decode a signal frame or its FPU area field by field, and see what rt_sigreturn does with it under each kernel policy.",
    [
      drop,
      origin,
      h("div", { class: "field" }, h("label", { for: kindId }, "Input is"), kind),
      h("div", { class: "field" }, h("label", { for: baseId }, "Address of the first byte (--base)"), base),
      cpu.el,
      kernel.el,
      h("div", { class: "field" }, sample),
    ],
  );
  showSample(store.get(SAMPLE_CPU)!, true);
  return view;
}

function report(r: InspectResult, bytes: Uint8Array): HTMLElement {
  const rowsById = new Map<number, HTMLTableRowElement>();
  const dump = hexdump(bytes, r.fields);
  const fieldTable = h(
    "table",
    { class: "fields", "data-testid": "field-table" },
    h("caption", {}, "Fields (hover or focus a row to highlight its bytes)"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "num" }, "offset"),
        h("th", { scope: "col", class: "num" }, "size"),
        h("th", { scope: "col" }, "field"),
        h("th", { scope: "col" }, "value"),
      ),
    ),
    h(
      "tbody",
      {},
      r.fields.map((f, i) => {
        const tr = h(
          "tr",
          { tabindex: 0, "data-path": f.path, class: `g-${f.group}`, title: f.help },
          h("td", { class: "num mono" }, f.offset),
          h("td", { class: "num" }, f.size),
          h("th", { scope: "row", class: "mono" }, f.path),
          h("td", { class: "mono value" }, f.value),
        );
        const on = () => dump.highlight(i);
        tr.addEventListener("mouseenter", on);
        tr.addEventListener("focus", on);
        rowsById.set(i, tr);
        return tr;
      }),
    ),
  );
  dump.onPick((i) => {
    const tr = rowsById.get(i);
    if (!tr) return;
    for (const x of fieldTable.querySelectorAll("tr.picked")) x.classList.remove("picked");
    tr.classList.add("picked");
    tr.scrollIntoView({ block: "nearest" });
  });
  return h(
    "div",
    {},
    h(
      "ul",
      { class: "plain mono", "data-testid": "inspect-summary" },
      r.summary.map((s) => h("li", {}, s)),
    ),
    findingsList(r),
    predictionTables(r),
    h("h3", {}, "Fields and bytes"),
    h("div", { class: "inspector" }, h("div", { class: "table-wrap fields-wrap" }, fieldTable), dump.el),
  );
}

function findingsList(r: InspectResult): HTMLElement {
  if (r.findings.length === 0)
    return h("p", { class: "verdict verdict-compatible" }, "no inconsistencies found");
  return h(
    "section",
    {},
    h("h3", {}, `Findings (${r.findings.length})`),
    h(
      "ul",
      { class: "findings-list", "data-testid": "inspect-findings" },
      r.findings.map((f) =>
        h(
          "li",
          { class: `sev-${f.severity}`, "data-code": f.code },
          h("span", { class: `badge sev-${f.severity}` }, f.severity),
          " ",
          h("code", {}, f.code),
          " ",
          h("span", { class: "mono path" }, f.path),
          ": ",
          f.message,
        ),
      ),
    ),
  );
}

function predictionTables(r: InspectResult): HTMLElement {
  if (!r.predictions)
    return h("p", { class: "hint", "data-testid": "no-prediction" }, `Prediction: ${r.noPrediction}.`);
  const preds = r.predictions;
  const comps = preds[0]?.prediction.components ?? [];
  return h(
    "section",
    {},
    h("h3", {}, "What sigreturn does"),
    r.kernelNote ? h("p", { class: "note" }, `note: ${r.kernelNote}`) : null,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "predictions", "data-testid": "predictions" },
        h("caption", { class: "visually-hidden" }, "Restore path under each policy"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["policy", "path", "signal", "reason", "what happens", "state lost"].map((c) =>
              h("th", { scope: "col" }, c),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          preds.map((x) =>
            h(
              "tr",
              { "data-policy": x.policy, class: x.picked ? "picked" : "" },
              h(
                "th",
                { scope: "row" },
                x.policy,
                x.picked ? h("span", { class: "badge" }, "this kernel") : null,
              ),
              h("td", { class: `mono path-${x.prediction.path}`, "data-col": "path" }, x.prediction.path),
              h("td", { "data-col": "signal" }, x.prediction.signal ?? "-"),
              h("td", { class: "mono", "data-col": "reason" }, x.prediction.reason),
              h(
                "td",
                {},
                x.prediction.detail,
                x.prediction.notes.flatMap((n) => [h("br"), h("small", { class: "note" }, `note: ${n}`)]),
                h("br"),
                h("small", { class: "source" }, x.prediction.source),
              ),
              h(
                "td",
                { "data-col": "lost" },
                x.prediction.lost.length ? x.prediction.lost.join(", ") : "nothing",
              ),
            ),
          ),
        ),
      ),
    ),
    h(
      "details",
      {},
      h("summary", {}, "Per component: loaded from the frame, or init"),
      h(
        "table",
        { class: "outcomes" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "component"),
            preds.map((x) => h("th", { scope: "col" }, x.policy)),
          ),
        ),
        h(
          "tbody",
          {},
          comps.map((c, i) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, `${c.bit} ${c.name}`),
              preds.map((x) => {
                const o = x.prediction.components[i];
                return h(
                  "td",
                  { class: `result-${o?.result}` },
                  o
                    ? o.result === "frame" && o.offset !== undefined
                      ? `frame @${o.offset}`
                      : o.result
                    : "-",
                );
              }),
            ),
          ),
          h(
            "tr",
            {},
            h("th", { scope: "row" }, "MXCSR"),
            preds.map((x) => h("td", { class: `result-${x.prediction.mxcsr}` }, x.prediction.mxcsr)),
          ),
        ),
      ),
    ),
  );
}

/** Hexdump rows with one span per byte, coloured by the field that covers it. */
function hexdump(
  bytes: Uint8Array,
  fields: FieldRow[],
): { el: HTMLElement; highlight(i: number): void; onPick(cb: (i: number) => void): void } {
  const n = Math.min(bytes.length, HEX_LIMIT);
  const owner = new Int32Array(n).fill(-1);
  fields.forEach((f, i) => {
    for (let o = Math.max(0, f.offset); o < Math.min(n, f.offset + f.size); o++)
      if (owner[o] === -1) owner[o] = i;
  });
  const spans: HTMLSpanElement[] = [];
  const pre = h("div", {
    class: "hexdump mono",
    role: "region",
    "aria-label": "Hexdump of the input",
    tabindex: 0,
  });
  const frag = document.createDocumentFragment();
  for (let row = 0; row < n; row += 16) {
    const line = h(
      "div",
      { class: "hexrow" },
      h("span", { class: "hexoff" }, row.toString(16).padStart(6, "0")),
    );
    let ascii = "";
    for (let o = row; o < Math.min(row + 16, n); o++) {
      const b = bytes[o]!;
      const fi = owner[o]!;
      const cls = [
        "b",
        fi >= 0 ? `g-${fields[fi]!.group}` : "g-none",
        fi >= 0 && fi % 2 ? "alt" : "",
        b === 0 ? "z" : "",
      ]
        .filter(Boolean)
        .join(" ");
      const s = h("span", { class: cls, "data-o": o }, b.toString(16).padStart(2, "0"));
      spans.push(s);
      line.append(s);
      ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    }
    line.append(h("span", { class: "hexascii" }, ascii));
    frag.append(line);
  }
  pre.append(frag);
  if (bytes.length > n) pre.append(h("p", { class: "hint" }, `… ${bytes.length - n} more bytes not shown`));
  let lit: number[] = [];
  const highlight = (i: number) => {
    for (const o of lit) spans[o]?.classList.remove("hl");
    lit = [];
    const f = fields[i];
    if (!f) return;
    for (let o = Math.max(0, f.offset); o < Math.min(n, f.offset + f.size); o++) {
      spans[o]?.classList.add("hl");
      lit.push(o);
    }
    // Bring the field's first row into the dump's view (the page itself does not move).
    const first = spans[lit[0] ?? -1]?.parentElement;
    if (
      first &&
      (first.offsetTop < pre.scrollTop || first.offsetTop > pre.scrollTop + pre.clientHeight - 20)
    ) {
      pre.scrollTop = Math.max(0, first.offsetTop - pre.clientHeight / 3);
    }
  };
  let pick: (i: number) => void = () => {};
  pre.addEventListener("click", (ev) => {
    const t = ev.target as HTMLElement;
    const o = Number(t.dataset.o);
    if (!Number.isInteger(o)) return;
    const fi = owner[o] ?? -1;
    if (fi < 0) return;
    highlight(fi);
    pick(fi);
  });
  return {
    el: pre,
    highlight,
    onPick(cb) {
      pick = cb;
    },
  };
}
