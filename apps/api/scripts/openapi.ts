// Writes the OpenAPI document the API serves to packages/cli/openapi.json: the contract the CLI's
// types are generated from (src/openapi.test.ts fails while it differs from the API's).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApiDocument } from "../src/openapi.js";

const target = join(import.meta.dirname, "../../../packages/cli/openapi.json");
writeFileSync(target, `${JSON.stringify(await openApiDocument(), null, 2)}\n`);
console.log(`wrote ${target}`);
