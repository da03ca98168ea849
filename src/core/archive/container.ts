/**
 * What users recognise a container checkpoint by, from the metadata files the engines put beside
 * `checkpoint/` (checkpointctl's reading of them, internal/container.go): the engine from
 * `spec.dump`'s `io.container.manager` annotation (`libpod` = Podman, `cri-o` = CRI-O, else
 * containerd); name, image, id, runtime and creation time from `config.dump` and the annotations.
 */
import { InvalidDataError } from "../errors.ts";
import { toJson } from "../hex.ts";
import { parseJsonText } from "../json.ts";
import { decodeText } from "../text.ts";
import { METADATA_FILES } from "./checkpoint.ts";

export interface ContainerInfo {
  engine?: string;
  name?: string;
  id?: string;
  image?: string;
  runtime?: string;
  created?: string;
  checkpointed?: string;
  pod?: string;
  namespace?: string;
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Parses a metadata file's JSON; a broken file is ignored (the images are what is read). */
function json(bytes: Uint8Array | undefined, name: string): Record<string, unknown> {
  if (!bytes) return {};
  try {
    return obj(parseJsonText(decodeText(bytes), name));
  } catch {
    return {};
  }
}

/** The container's identity from config.dump and spec.dump (either may be missing). */
export function containerInfo(config: Uint8Array | undefined, spec: Uint8Array | undefined): ContainerInfo {
  const cfg = json(config, "config.dump");
  const ann = obj(json(spec, "spec.dump").annotations);
  const a = (k: string) => str(ann[k]);
  const out: ContainerInfo = {};
  const set = (k: keyof ContainerInfo, v: string | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  const manager = a("io.container.manager");
  if (manager === "libpod") {
    set("engine", "Podman");
    set("name", str(cfg.name));
    set("created", str(cfg.createdTime));
  } else if (manager === "cri-o") {
    set("engine", "CRI-O");
    const md = a("io.kubernetes.cri-o.Metadata");
    let n: string | undefined;
    try {
      n = md ? str(obj(JSON.parse(md)).name) : undefined;
    } catch {}
    set("name", n ?? a("io.kubernetes.container.name") ?? str(cfg.name));
    set("created", a("io.kubernetes.cri-o.Created") ?? str(cfg.createdTime));
    set("pod", a("io.kubernetes.pod.name"));
    set("namespace", a("io.kubernetes.pod.namespace"));
  } else if (config || spec) {
    set("engine", spec ? "containerd" : undefined);
    set("name", a("io.kubernetes.cri.container-name") ?? str(cfg.name));
    set("created", str(cfg.createdTime));
    set("pod", a("io.kubernetes.cri.sandbox-name"));
    set("namespace", a("io.kubernetes.cri.sandbox-namespace"));
  }
  set("id", str(cfg.id));
  set("image", str(cfg.rootfsImageName) ?? str(cfg.rootfsImageRef));
  set("runtime", str(cfg.runtime));
  set("checkpointed", str(cfg.checkpointedTime));
  return out;
}

/** One line for a report header: `Podman container "web" (image …, created …)`. */
export function describeContainer(c: ContainerInfo): string | undefined {
  if (!c.name && !c.engine && !c.image) return undefined;
  const head = `${c.engine ?? "container"} container${c.name ? ` ${JSON.stringify(c.name)}` : ""}`;
  const parts = [
    c.pod ? `pod ${c.namespace ? `${c.namespace}/` : ""}${c.pod}` : undefined,
    c.image ? `image ${c.image}` : undefined,
    c.id ? `id ${c.id.slice(0, 12)}` : undefined,
    c.runtime ? `runtime ${c.runtime}` : undefined,
    c.created ? `created ${c.created}` : undefined,
    c.checkpointed ? `checkpointed ${c.checkpointed}` : undefined,
  ].filter(Boolean);
  return parts.length ? `${head} (${parts.join(", ")})` : head;
}

/**
 * A container engine's metadata file beside the images (config.dump, spec.dump, dump.log, …),
 * named as `criu show` names a member (`ARCHIVE:NAME`, `DIR/NAME`), shown as the text it is and,
 * with `json`, JSON metadata pretty-printed; undefined when the name is not metadata.
 */
export function metadataText(name: string, bytes: Uint8Array, json: boolean): string | undefined {
  if (!METADATA_FILES.has(name.split(/[/:]/).pop() ?? "")) return undefined;
  const text = decodeText(bytes);
  if (!json) return text.endsWith("\n") ? text : `${text}\n`;
  try {
    return toJson(JSON.parse(text));
  } catch {
    throw new InvalidDataError("container metadata that is not JSON: drop --json to see its text", {
      input: name,
    });
  }
}
