/** A few DOM helpers: elements from tag, attributes and children; nothing is parsed as HTML. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces the children of `el`. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
/** A page-unique id for label/for pairs. */
export function nextId(prefix: string): string {
  uid++;
  return `${prefix}-${uid}`;
}

/**
 * An SVG document produced by the core (layoutSvg escapes every text it embeds) as an element,
 * parsed as XML so that nothing in it runs.
 */
export function svgElement(svg: string, label: string): Element {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg") return h("p", {}, "(the byte map could not be drawn)");
  const el = document.importNode(root, true) as Element;
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", label);
  el.removeAttribute("width");
  el.removeAttribute("height");
  el.setAttribute("class", "bytemap");
  return el;
}

/** The error line of a view: one line, announced to screen readers, empty when all is well. */
export function errorSlot(): { el: HTMLElement; show(line: string | undefined): void } {
  const el = h("p", { class: "error-line", role: "alert", "aria-live": "assertive", hidden: true });
  return {
    el,
    show(line) {
      el.textContent = line ?? "";
      el.hidden = !line;
    },
  };
}
