/**
 * Validates a JSON value against the schemas scripts/json-schema.ts writes (the subset it uses:
 * $ref to $defs, type, const, enum, anyOf, properties/required/additionalProperties, items,
 * prefixItems, pattern). Returns every error, each with the JSON path where it is.
 */
type Schema = { [k: string]: unknown };

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

export function validate(schema: Schema, value: unknown, root: Schema = schema, path = "$"): string[] {
  const errors: string[] = [];
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/$defs/", "");
    const def = (root.$defs as Record<string, Schema> | undefined)?.[name];
    if (!def) return [`${path}: unknown $ref ${schema.$ref}`];
    errors.push(...validate(def, value, root, path));
  }
  if ("const" in schema && value !== schema.const)
    errors.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value as never))
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.anyOf)) {
    const each = (schema.anyOf as Schema[]).map((s) => validate(s, value, root, path));
    if (!each.some((e) => e.length === 0)) {
      const best = each.reduce((a, b) => (b.length < a.length ? b : a));
      errors.push(`${path}: matches none of ${each.length} alternatives; closest: ${best.join("; ")}`);
    }
  }
  if (typeof schema.type === "string") {
    const t = typeOf(value);
    if (t !== schema.type) return [...errors, `${path}: ${t}, expected ${schema.type}`];
  }
  if (
    typeof schema.pattern === "string" &&
    typeof value === "string" &&
    !new RegExp(schema.pattern).test(value)
  )
    errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (typeOf(value) === "array") {
    const arr = value as unknown[];
    const prefix = (schema.prefixItems as Schema[] | undefined) ?? [];
    for (const [i, s] of prefix.entries()) errors.push(...validate(s, arr[i], root, `${path}[${i}]`));
    if (typeof schema.minItems === "number" && arr.length < schema.minItems)
      errors.push(`${path}: ${arr.length} items, at least ${schema.minItems}`);
    if (typeof schema.maxItems === "number" && arr.length > schema.maxItems)
      errors.push(`${path}: ${arr.length} items, at most ${schema.maxItems}`);
    if (schema.items && typeof schema.items === "object")
      for (const [i, x] of arr.entries())
        errors.push(...validate(schema.items as Schema, x, root, `${path}[${i}]`));
  }
  if (typeOf(value) === "object" && schema.type === "object") {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const r of (schema.required as string[] | undefined) ?? [])
      if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validate(props[k], v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === "object")
        errors.push(...validate(schema.additionalProperties as Schema, v, root, `${path}.${k}`));
    }
  }
  return errors;
}
