// Checks an answer against the API document the app serves: the status must be documented for the
// operation, the media type too, and a JSON body must match the schema. Objects are closed: a key
// an object schema does not declare is a mismatch unless it says `additionalProperties`, so a
// field a route answers but the document dropped fails the test that made the call, whether or not
// that test reads the field. Only the JSON Schema the document uses is understood: $ref, allOf,
// anyOf/oneOf, type (one or several), enum, const, properties/required/additionalProperties, items,
// and the uuid and date-time formats (OpenAPI 3.1 schema objects are JSON Schema 2020-12).

type Schema = {
  $ref?: string;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  format?: string;
};
type MediaTypes = Record<string, { schema?: Schema }>;
type Operation = { responses: Record<string, { content?: MediaTypes }> };
export type ApiDocument = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// RFC 3339 section 5.6 date-time.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function resolve(doc: ApiDocument, schema: Schema): Schema {
  let s = schema;
  for (let hops = 0; s.$ref; hops++) {
    const name = s.$ref.replace(/^#\/components\/schemas\//, "");
    const target = doc.components?.schemas?.[name];
    if (!target || hops > 20) throw new Error(`unresolvable $ref ${s.$ref}`);
    s = target;
  }
  return s;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  return typeOf(value) === type;
}

/** The property names an object schema declares, and whether it admits others. */
function declaredKeys(doc: ApiDocument, schema: Schema): { keys: Set<string>; open: boolean } {
  const s = resolve(doc, schema);
  const keys = new Set(Object.keys(s.properties ?? {}));
  let open = s.additionalProperties !== undefined && s.additionalProperties !== false;
  for (const branch of s.allOf ?? []) {
    const inner = declaredKeys(doc, branch);
    for (const k of inner.keys) keys.add(k);
    open ||= inner.open;
  }
  return { keys, open };
}

/**
 * Mismatches between `value` and `schema`, each as "path: what". `closed` is false for the
 * branches of an allOf, whose keys are checked together by the allOf itself.
 */
export function schemaMismatches(doc: ApiDocument, schema: Schema, value: unknown, path = "$", closed = true): string[] {
  const s = resolve(doc, schema);
  const out: string[] = [];
  for (const branch of s.allOf ?? []) out.push(...schemaMismatches(doc, branch, value, path, false));
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) {
    const fits = alternatives.filter((b) => schemaMismatches(doc, b, value, path).length === 0).length;
    if (s.oneOf ? fits !== 1 : fits === 0) out.push(`${path}: matches ${fits} of the ${s.oneOf ? "oneOf" : "anyOf"} alternatives`);
  }
  const types = s.type === undefined ? [] : [s.type].flat();
  if (types.length && !types.some((t) => hasType(value, t))) {
    out.push(`${path}: ${typeOf(value)} where the document says ${types.join(" or ")}`);
    return out;
  }
  if (s.enum && !s.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (s.const !== undefined && s.const !== value) out.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(s.const)}`);
  if (typeof value === "string" && s.format === "uuid" && !UUID.test(value)) out.push(`${path}: ${JSON.stringify(value)} is not a uuid`);
  if (typeof value === "string" && s.format === "date-time" && !DATE_TIME.test(value))
    out.push(`${path}: ${JSON.stringify(value)} is not a date-time`);
  if (Array.isArray(value) && s.items) {
    for (const [i, item] of value.entries()) out.push(...schemaMismatches(doc, s.items, item, `${path}[${i}]`));
  }
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in obj)) out.push(`${path}.${key}: required by the document, missing`);
    for (const [key, sub] of Object.entries(s.properties ?? {})) {
      if (key in obj) out.push(...schemaMismatches(doc, sub, obj[key], `${path}.${key}`));
    }
    const extra = typeof s.additionalProperties === "object" ? s.additionalProperties : undefined;
    const { keys, open } = declaredKeys(doc, s);
    for (const key of Object.keys(obj)) {
      if (keys.has(key)) continue;
      if (extra) out.push(...schemaMismatches(doc, extra, obj[key], `${path}.${key}`));
      else if (closed && !open && (s.properties || s.allOf)) out.push(`${path}.${key}: answered but not in the document`);
    }
  }
  return out;
}

/** Mismatches between an answer and what the document says operation `method schemaPath` answers. */
export async function responseMismatches(doc: ApiDocument, method: string, schemaPath: string, res: Response): Promise<string[]> {
  const op = doc.paths[schemaPath]?.[method.toLowerCase()];
  if (!op) return [`${method} ${schemaPath} is not in the document`];
  const documented = op.responses[String(res.status)] ?? op.responses.default;
  if (!documented) return [`status ${res.status} is not documented (documented: ${Object.keys(op.responses).join(", ")})`];
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const body = await res.clone().text();
  if (!documented.content) return body === "" ? [] : [`status ${res.status} documents no body, got ${mediaType}`];
  const media = documented.content[mediaType];
  if (!media)
    return [`${mediaType || "no content type"} is not documented for ${res.status} (documented: ${Object.keys(documented.content).join(", ")})`];
  if (!/[/+]json$/.test(mediaType) || !media.schema) return [];
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return [`${mediaType} body is not JSON`];
  }
  return schemaMismatches(doc, media.schema, value);
}
