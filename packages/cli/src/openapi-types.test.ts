import { describe, expect, it } from "vitest";
import { typesFromOpenApi } from "../scripts/openapi-types.mjs";

describe("types from the OpenAPI document", () => {
  it("renders objects, optional and nullable fields, enums, arrays, records and references", () => {
    const doc = {
      components: {
        schemas: {
          Color: { type: "string", enum: ["red", "dark-blue"] },
          Thing: {
            type: "object",
            description: "a thing",
            properties: {
              id: { type: "string" },
              color: { $ref: "#/components/schemas/Color" },
              size: { anyOf: [{ type: "integer" }, { type: "null" }] },
              tags: { type: "array", items: { type: ["string", "null"] } },
              labels: { type: "object", additionalProperties: { type: "string" } },
              "odd-key": { type: "boolean", description: "why it is there" },
            },
            required: ["id", "color", "size", "tags", "labels"],
          },
          ThingInput: { type: "object", properties: { id: { type: "string" } } },
        },
      },
    };
    expect(typesFromOpenApi(doc).split("\n").slice(2)).toEqual([
      'export type Color = "red" | "dark-blue";',
      "",
      "/** a thing */",
      "export interface Thing {",
      "  id: string;",
      "  color: Color;",
      "  size: number | null;",
      "  tags: (string | null)[];",
      "  labels: Record<string, string>;",
      "  /** why it is there */",
      '  "odd-key"?: boolean;',
      "}",
      "",
    ]);
  });
});
