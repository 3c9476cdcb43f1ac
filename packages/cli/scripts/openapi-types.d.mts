/** See openapi-types.mjs. */
export function typesFromOpenApi(doc: { components: { schemas: Record<string, unknown> } }): string;
