/**
 * The `--json` contract, generated from the types: every property of `JsonContract`
 * (src/core/contract.ts) is one command's document type, and becomes docs/json/<command>.schema.json
 * (JSON Schema 2020-12). 64-bit values (`bigint` in the types) are `"0x…"` strings, as `toJson`
 * writes them. test/contract.test.ts checks that the files are current and that every command's
 * `--json` output is valid against its schema, so types, docs and output cannot drift apart.
 *
 *   node --import tsx scripts/json-schema.ts          write docs/json/*.schema.json
 *   node --import tsx scripts/json-schema.ts --check  exit 1 when a file is not current
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export type Schema = { [k: string]: unknown };

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CONTRACT = join(root, "src", "core", "contract.ts");
export const SCHEMA_DIR = join(root, "docs", "json");
const HEX = "^0x[0-9a-f]+$";

/** The file a command's schema is in: `criu show` → docs/json/criu-show.schema.json. */
export function schemaFile(command: string): string {
  return `${command.replace(/ /g, "-")}.schema.json`;
}

/** One JSON Schema per command, by command name. */
export function generateSchemas(): Map<string, Schema> {
  const program = ts.createProgram([CONTRACT], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    strict: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(CONTRACT);
  if (!file) throw new Error(`cannot read ${CONTRACT}`);
  const decl = file.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === "JsonContract",
  );
  if (!decl) throw new Error("src/core/contract.ts has no JsonContract interface");
  const out = new Map<string, Schema>();
  for (const prop of checker.getPropertiesOfType(checker.getTypeAtLocation(decl))) {
    const g = new Generator(checker);
    const body = g.schema(checker.getTypeOfSymbol(prop), `${prop.name}`);
    const doc: Schema = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $id: `sigframe/${schemaFile(prop.name)}`,
      title: `sigframe ${prop.name} --json`,
    };
    const description = ts.displayPartsToString(prop.getDocumentationComment(checker));
    if (description) doc.description = description;
    Object.assign(doc, body);
    if (g.defs.size) doc.$defs = Object.fromEntries([...g.defs].sort(([a], [b]) => a.localeCompare(b)));
    out.set(prop.name, doc);
  }
  return out;
}

class Generator {
  readonly defs = new Map<string, Schema>();
  private readonly names = new Map<ts.Type, string>();
  constructor(private readonly checker: ts.TypeChecker) {}

  schema(t: ts.Type, where: string): Schema {
    const f = t.flags;
    if (f & ts.TypeFlags.BigInt || f & ts.TypeFlags.BigIntLiteral) return { type: "string", pattern: HEX };
    if (f & ts.TypeFlags.StringLiteral) return { const: (t as ts.StringLiteralType).value };
    if (f & ts.TypeFlags.NumberLiteral) return { const: (t as ts.NumberLiteralType).value };
    if (f & ts.TypeFlags.BooleanLiteral) return { const: this.checker.typeToString(t) === "true" };
    if (f & ts.TypeFlags.String) return { type: "string" };
    if (f & ts.TypeFlags.Number) return { type: "number" };
    if (f & ts.TypeFlags.Boolean) return { type: "boolean" };
    if (f & ts.TypeFlags.Null) return { type: "null" };
    if (f & ts.TypeFlags.TemplateLiteral) {
      const tl = t as ts.TemplateLiteralType;
      const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return { type: "string", pattern: `^${tl.texts.map(esc).join(".*")}$` };
    }
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
    if (t.isUnion()) return this.named(t, () => this.union(t.types, where));
    if (this.checker.isTupleType(t)) {
      const items = this.checker.getTypeArguments(t as ts.TypeReference);
      return {
        type: "array",
        prefixItems: items.map((x, i) => this.schema(x, `${where}[${i}]`)),
        minItems: items.length,
        maxItems: items.length,
      };
    }
    if (this.checker.isArrayType(t)) {
      const [item] = this.checker.getTypeArguments(t as ts.TypeReference);
      return { type: "array", items: this.schema(item!, `${where}[]`) };
    }
    if (f & ts.TypeFlags.Object || t.isIntersection()) return this.object(t, where);
    throw new Error(`${where}: no JSON form for type ${this.checker.typeToString(t)}`);
  }

  private union(types: readonly ts.Type[], where: string): Schema {
    const present = types.filter((x) => !(x.flags & ts.TypeFlags.Undefined));
    const bools = present.filter((x) => x.flags & ts.TypeFlags.BooleanLiteral);
    const rest = present.filter((x) => !(x.flags & ts.TypeFlags.BooleanLiteral));
    const parts: Schema[] = [];
    if (bools.length === 2) parts.push({ type: "boolean" });
    else for (const b of bools) parts.push(this.schema(b, where));
    const literal = (x: ts.Type) => x.flags & (ts.TypeFlags.StringLiteral | ts.TypeFlags.NumberLiteral);
    const literals = rest.filter(literal);
    if (literals.length > 1) parts.push({ enum: literals.map((x) => (x as ts.LiteralType).value) });
    for (const x of rest) if (literals.length <= 1 || !literal(x)) parts.push(this.schema(x, where));
    return parts.length === 1 ? parts[0]! : { anyOf: parts };
  }

  private object(t: ts.Type, where: string): Schema {
    return this.named(t, (name) => this.objectBody(t, name ?? where));
  }

  /** A named type's schema as a reference to its $defs entry; an anonymous one inline. */
  private named(t: ts.Type, body: (name?: string) => Schema): Schema {
    const name = this.nameOf(t);
    if (!name) return body();
    const ref = { $ref: `#/$defs/${name}` };
    if (this.defs.has(name)) return ref;
    this.defs.set(name, {}); // placeholder: a recursive type ends here
    this.defs.set(name, body(name));
    return ref;
  }

  private objectBody(t: ts.Type, where: string): Schema {
    const c = this.checker;
    if (c.getSignaturesOfType(t, ts.SignatureKind.Call).length)
      throw new Error(`${where}: a function is not JSON (${c.typeToString(t)})`);
    const properties: Schema = {};
    const required: string[] = [];
    for (const p of c.getPropertiesOfType(t)) {
      const pt = c.getTypeOfSymbol(p);
      if (c.getSignaturesOfType(pt, ts.SignatureKind.Call).length)
        throw new Error(`${where}.${p.name}: a method is not JSON`);
      const s = this.schema(pt, `${where}.${p.name}`);
      const doc = ts.displayPartsToString(p.getDocumentationComment(c));
      properties[p.name] = doc ? { description: doc, ...s } : s;
      if (!(p.flags & ts.SymbolFlags.Optional)) required.push(p.name);
    }
    const out: Schema = { type: "object" };
    if (Object.keys(properties).length) out.properties = properties;
    if (required.length) out.required = required;
    const index = c.getIndexInfosOfType(t);
    out.additionalProperties = index.length ? this.schema(index[0]!.type, `${where}[key]`) : false;
    return out;
  }

  /** Interfaces and aliased object types get a $defs entry under their name (unique per type). */
  private nameOf(t: ts.Type): string | undefined {
    const known = this.names.get(t);
    if (known) return known;
    const sym = t.isUnion() ? t.aliasSymbol : (t.aliasSymbol ?? t.getSymbol());
    const name = sym?.getName();
    if (!name || name.startsWith("__") || t.aliasTypeArguments?.length || name === "Record") return undefined;
    if ((t as ts.TypeReference).typeArguments?.length) return undefined;
    let unique = name;
    for (let i = 2; [...this.names.values()].includes(unique); i++) unique = `${name}${i}`;
    this.names.set(t, unique);
    return unique;
  }
}

function text(s: Schema): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  let stale = 0;
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const [name, schema] of generateSchemas()) {
    const path = join(SCHEMA_DIR, schemaFile(name));
    let old = "";
    try {
      old = readFileSync(path, "utf8");
    } catch {}
    if (old === text(schema)) continue;
    if (check) {
      console.error(`${path} is not current: run 'npm run gen:json-schema'`);
      stale++;
    } else writeFileSync(path, text(schema));
  }
  process.exit(stale ? 1 : 0);
}
