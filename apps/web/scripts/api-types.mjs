// The API's types for the console, from the same OpenAPI document and generator as the CLI's
// (packages/cli/scripts/openapi-types.mjs): src/generated/api.ts, written before every build.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { typesFromOpenApi } from "../../../packages/cli/scripts/openapi-types.mjs";

const root = join(import.meta.dirname, "..");
const doc = JSON.parse(readFileSync(join(root, "../../packages/cli/openapi.json"), "utf8"));
mkdirSync(join(root, "src/generated"), { recursive: true });
writeFileSync(join(root, "src/generated/api.ts"), typesFromOpenApi(doc));
