/** What every view has: a result area, an error line, a guarded redraw, and the same section shape. */
import { errorSlot, h, replace, svgElement } from "../dom.ts";
import { errorLine } from "../errors.ts";
import { type ProfileStore, profilePicker } from "../profiles.ts";

interface ViewParts {
  err: ReturnType<typeof errorSlot>;
  out: HTMLElement;
}

export function viewParts(): ViewParts {
  return { err: errorSlot(), out: h("div", { class: "result", "aria-live": "polite" }) };
}

/** Runs `draw` with the error line cleared; a failure empties the result and shows the CLI's error line. */
export function redraw(parts: ViewParts, draw: () => void | Promise<void>): void {
  parts.err.show(undefined);
  const fail = (e: unknown): void => {
    console.error(e);
    replace(parts.out);
    parts.err.show(errorLine(e));
  };
  try {
    draw()?.catch(fail);
  } catch (e) {
    fail(e);
  }
}

/** A profile picker whose changes redraw the view and whose load errors go to its error line. */
export function viewPicker(
  store: ProfileStore,
  parts: ViewParts,
  label: string,
  initial: string,
  render: () => void,
): ReturnType<typeof profilePicker> {
  return profilePicker(store, {
    label,
    initial,
    onChange: () => render(),
    onError: (line) => parts.err.show(line),
  });
}

/** The view: heading, lead, the form of controls, the error line, the result. */
export function viewSection(parts: ViewParts, title: string, lead: string, controls: Node[]): HTMLElement {
  return h(
    "section",
    { class: "view" },
    h("h2", {}, title),
    h("p", { class: "lead" }, lead),
    h("form", { class: "controls", onsubmit: (ev: Event) => ev.preventDefault() }, controls),
    parts.err.el,
    parts.out,
  );
}

/** A byte map from the core's SVG, with its caption. */
export function byteMap(svg: string, label: string, caption: string): HTMLElement {
  return h("figure", {}, svgElement(svg, label), h("figcaption", {}, caption));
}

/** A frame handed from one view to Inspect: its bytes, address and the CPU to read it with. */
export interface FrameHandoff {
  bytes: Uint8Array;
  name: string;
  /** `--base`: the address of the first byte. */
  base: string;
  /** A profile option id (built-in name or loaded file) for Inspect's --cpu. */
  cpu?: string | undefined;
  /** Where the frame came from, shown with it. */
  note: string;
}

/** What views do to each other: open a frame in Inspect (and show that tab). */
export class Explorer {
  private inspector: ((f: FrameHandoff) => void) | undefined;
  /** Shows a tab by id; set by the page. */
  show: (tab: string) => void = () => {};

  onInspect(fn: (f: FrameHandoff) => void): void {
    this.inspector = fn;
  }

  inspect(f: FrameHandoff): void {
    this.inspector?.(f);
    this.show("inspect");
  }
}
