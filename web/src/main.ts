/** The sigframe explorer: five views over the same core the CLI uses, switched by tabs. */
import { h } from "./dom.ts";
import { errorLine } from "./errors.ts";
import { ProfileStore } from "./profiles.ts";
import { checkView } from "./views/check.ts";
import { diffView } from "./views/diff.ts";
import { inspectView } from "./views/inspect.ts";
import { layoutView } from "./views/layout.ts";
import { scanView } from "./views/scan.ts";
import { Explorer } from "./views/view.ts";

const TABS = [
  { id: "layout", label: "Layout", make: layoutView },
  { id: "diff", label: "Diff", make: diffView },
  { id: "inspect", label: "Inspect frame", make: inspectView },
  { id: "scan", label: "Scan", make: scanView },
  { id: "check", label: "Check migration", make: checkView },
] as const;

function fatal(line: string): void {
  const el = document.getElementById("fatal");
  if (!el) return;
  el.textContent = line;
  el.hidden = false;
}

function start(root: HTMLElement): void {
  const store = new ProfileStore();
  const app = new Explorer();
  const tablist = h("div", { role: "tablist", "aria-label": "Views", class: "tabs" });
  const panels: HTMLElement[] = [];
  const buttons: HTMLButtonElement[] = [];
  TABS.forEach((t, i) => {
    const btn = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${t.id}`,
        "aria-controls": `panel-${t.id}`,
        "aria-selected": "false",
        tabindex: -1,
      },
      t.label,
    );
    btn.addEventListener("click", () => select(i, true));
    btn.addEventListener("keydown", (ev) => {
      const k = (ev as KeyboardEvent).key;
      const next =
        k === "ArrowRight"
          ? i + 1
          : k === "ArrowLeft"
            ? i - 1
            : k === "Home"
              ? 0
              : k === "End"
                ? TABS.length - 1
                : -2;
      if (next === -2) return;
      ev.preventDefault();
      select((next + TABS.length) % TABS.length, true);
      buttons[(next + TABS.length) % TABS.length]!.focus();
    });
    buttons.push(btn);
    tablist.append(btn);
    let panel: HTMLElement;
    try {
      panel = h(
        "div",
        { role: "tabpanel", id: `panel-${t.id}`, "aria-labelledby": `tab-${t.id}`, hidden: true },
        t.make(store, app),
      );
    } catch (e) {
      console.error(e);
      panel = h(
        "div",
        { role: "tabpanel", id: `panel-${t.id}`, "aria-labelledby": `tab-${t.id}`, hidden: true },
        h("p", { class: "error-line", role: "alert" }, errorLine(e)),
      );
    }
    panels.push(panel);
  });

  function select(i: number, push: boolean): void {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panels[j]!.hidden = i !== j;
    });
    if (push) history.replaceState(null, "", `#${TABS[i]!.id}`);
  }

  const fromHash = () => {
    const i = TABS.findIndex((t) => `#${t.id}` === location.hash);
    select(Math.max(i, 0), false);
  };
  app.show = (id) => {
    const i = TABS.findIndex((t) => t.id === id);
    if (i >= 0) select(i, true);
  };
  window.addEventListener("hashchange", fromHash);
  root.replaceChildren(tablist, ...panels);
  fromHash();
}

window.addEventListener("error", (ev) => fatal(errorLine(ev.error ?? ev.message)));
window.addEventListener("unhandledrejection", (ev) => fatal(errorLine(ev.reason)));

const root = document.getElementById("app");
if (root) {
  try {
    start(root);
  } catch (e) {
    console.error(e);
    fatal(errorLine(e));
  }
}
