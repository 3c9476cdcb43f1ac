// TypeScript declarations of the API's OpenAPI document (openapi.json beside package.json, kept
// current by an API test) for the CLI: src/generated/api.ts, written before every build and
// typecheck, so the contract is the one source of the CLI's types. Handles the JSON Schema the
// API's zod schemas produce (objects, arrays, enums, unions, nullable types, records, $ref); the
// input variants of schemas (`*Input`) are left out: the CLI reads responses.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** @param {{ components: { schemas: Record<string, any> } }} doc */
export function typesFromOpenApi(doc) {
  const out = [
    "// Generated from packages/cli/openapi.json by scripts/openapi-types.mjs; not committed.",
    "",
  ];
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    if (name.endsWith("Input")) continue;
    out.push(...comment(schema.description, ""));
    if (schema.type === "object" && schema.properties)
      out.push(`export interface ${name} ${typeOf(schema, "")}`, "");
    else out.push(`export type ${name} = ${typeOf(schema, "")};`, "");
  }
  return `${out.join("\n").trimEnd()}\n`;
}

function comment(text, indent) {
  return text ? [`${indent}/** ${String(text).replaceAll("*/", "*\\/")} */`] : [];
}

function typeOf(s, indent) {
  if (s.$ref) return s.$ref.slice(s.$ref.lastIndexOf("/") + 1);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  const union = s.anyOf ?? s.oneOf;
  if (union) return unionOf(union.map((u) => typeOf(u, indent)));
  if (Array.isArray(s.type)) return unionOf(s.type.map((t) => typeOf({ ...s, type: t }, indent)));
  switch (s.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = s.items ? typeOf(s.items, indent) : "unknown";
      return /^[\w.]+$/.test(item) ? `${item}[]` : `(${item})[]`;
    }
    case "object":
      return objectOf(s, indent);
    default:
      return "unknown";
  }
}

function objectOf(s, indent) {
  if (!s.properties || Object.keys(s.properties).length === 0) {
    const extra = s.additionalProperties;
    const value =
      typeof extra === "object" && Object.keys(extra).length > 0 ? typeOf(extra, indent) : "unknown";
    return `Record<string, ${value}>`;
  }
  const inner = `${indent}  `;
  const required = new Set(s.required ?? []);
  const lines = ["{"];
  for (const [key, prop] of Object.entries(s.properties)) {
    lines.push(...comment(prop.description, inner));
    const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
    lines.push(`${inner}${name}${required.has(key) ? "" : "?"}: ${typeOf(prop, inner)};`);
  }
  lines.push(`${indent}}`);
  return lines.join("\n");
}

function unionOf(types) {
  return [...new Set(types)].join(" | ");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const doc = JSON.parse(readFileSync(join(root, "openapi.json"), "utf8"));
  mkdirSync(join(root, "src/generated"), { recursive: true });
  writeFileSync(join(root, "src/generated/api.ts"), typesFromOpenApi(doc));
}
