/**
 * The profiles the page knows: the built-ins, and every profile file loaded in this tab (read in
 * the browser with the core's format detection). Pickers list both and stay in step.
 */
import { describeProfile, type Profile } from "../../src/core/profile.ts";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { h, nextId } from "./dom.ts";
import { errorLine } from "./errors.ts";
import { builtinList, profileFromUpload } from "./model.ts";

interface Loaded {
  id: string;
  label: string;
  profile: Profile;
}

export class ProfileStore {
  private readonly builtins = builtinList();
  private readonly cache = new Map<string, Profile>();
  private readonly files: Loaded[] = [];
  private readonly listeners = new Set<() => void>();

  /** Option values: the built-in name, or `file:N` for a loaded file. */
  get(id: string): Profile | undefined {
    if (id === "") return undefined;
    const f = this.files.find((x) => x.id === id);
    if (f) return f.profile;
    let p = this.cache.get(id);
    if (!p) {
      p = builtinProfile(id);
      this.cache.set(id, p);
    }
    return p;
  }

  add(profile: Profile, label: string): string {
    const id = `file:${this.files.length + 1}`;
    this.files.push({ id, label, profile });
    for (const l of this.listeners) l();
    return id;
  }

  onChange(l: () => void): void {
    this.listeners.add(l);
  }

  options(): { group: string; items: { value: string; label: string }[] }[] {
    const groups = [
      {
        group: "Built-in profiles",
        items: this.builtins.map((b) => ({ value: b.name, label: `${b.name} — ${b.title}` })),
      },
    ];
    if (this.files.length) {
      groups.push({ group: "Loaded files", items: this.files.map((f) => ({ value: f.id, label: f.label })) });
    }
    return groups;
  }
}

interface PickerOptions {
  label: string;
  initial?: string;
  /** Offer "(none)" first. */
  none?: string;
  onChange(): void;
  /** A file that is not a profile: the one-line error. */
  onError(line: string | undefined): void;
}

interface Picker {
  el: HTMLElement;
  value(): Profile | undefined;
  id(): string;
  /** Chooses an option (a built-in name or a loaded file's id), as the user would. */
  choose(id: string): void;
}

/** Reads a File (or a dropped one) whole. */
export async function fileBytes(f: File): Promise<Uint8Array> {
  return new Uint8Array(await f.arrayBuffer());
}

/** A labelled <select> of profiles with a file button; dropping a file on it loads it too. */
export function profilePicker(store: ProfileStore, o: PickerOptions): Picker {
  const selId = nextId("profile");
  const fileId = nextId("profile-file");
  const select = h("select", { id: selId, name: selId });
  const fill = () => {
    const keep = select.value || o.initial || "";
    select.replaceChildren();
    if (o.none !== undefined) select.append(h("option", { value: "" }, o.none));
    for (const g of store.options()) {
      const og = h("optgroup", { label: g.group });
      for (const it of g.items) og.append(h("option", { value: it.value }, it.label));
      select.append(og);
    }
    select.value = keep;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
  };
  // The chosen profile's whole label as a tooltip too (a very narrow window still cuts the box).
  const showTitle = () => {
    select.title = select.selectedOptions[0]?.textContent ?? "";
  };
  fill();
  showTitle();
  store.onChange(() => {
    fill();
    showTitle();
  });
  select.addEventListener("change", () => {
    showTitle();
    o.onError(undefined);
    o.onChange();
  });

  const load = async (f: File) => {
    try {
      const p = await profileFromUpload(f);
      const id = store.add(p, `${f.name} — ${describeProfile(p)}`);
      select.value = id;
      showTitle();
      o.onError(undefined);
      o.onChange();
    } catch (e) {
      console.error(e);
      o.onError(errorLine(e, f.name));
    }
  };
  const input = fileInput(fileId, (f) => void load(f));
  const el = h(
    "div",
    { class: "picker" },
    h("label", { for: selId }, o.label),
    h(
      "div",
      { class: "picker-row" },
      select,
      h(
        "label",
        {
          for: fileId,
          class: "button",
          title:
            "cpuid -r output, profile JSON, CRIU cpuinfo.img, dump.log or checkpoint archive, ELF core (plain or compressed)",
        },
        "Load file…",
      ),
      input,
    ),
  );
  dropTarget(el, (f) => void load(f));
  return {
    el,
    id: () => select.value,
    value: () => store.get(select.value),
    choose(id) {
      select.value = id;
      showTitle();
      o.onError(undefined);
      o.onChange();
    },
  };
}

/** A hidden file input (shown through a <label for=id>) that hands over each file chosen. */
export function fileInput(id: string, onFile: (f: File) => void): HTMLInputElement {
  const input = h("input", { type: "file", id, class: "visually-hidden" });
  input.addEventListener("change", () => {
    const f = input.files?.[0];
    input.value = "";
    if (f) onFile(f);
  });
  return input;
}

/** A hidden folder input (a CRIU image directory): hands over the folder's files. */
export function folderInput(id: string, onFiles: (files: File[]) => void): HTMLInputElement {
  const input = h("input", {
    type: "file",
    id,
    class: "visually-hidden",
    webkitdirectory: true,
    multiple: true,
  });
  input.addEventListener("change", () => {
    const files = [...(input.files ?? [])];
    input.value = "";
    if (files.length) onFiles(files);
  });
  return input;
}

/** Makes `el` accept a dropped file. */
export function dropTarget(el: HTMLElement, onFile: (f: File) => void): void {
  el.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    el.classList.add("dragging");
  });
  el.addEventListener("dragleave", () => el.classList.remove("dragging"));
  el.addEventListener("drop", (ev) => {
    ev.preventDefault();
    el.classList.remove("dragging");
    const f = ev.dataTransfer?.files?.[0];
    if (f) onFile(f);
  });
}
