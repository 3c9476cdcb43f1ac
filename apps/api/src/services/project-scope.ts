import type { Db } from "../db/client.js";
import type { TokenPrincipal } from "../http/auth.js";
import { apiError } from "../http/errors.js";

const DEFAULT_PROJECT_NAME = "default";

/**
 * The project a request acts in: a tenant's own; for an operator the one asked for, else its
 * token's, else the project named 'default'.
 */
export async function resolveProject(
  db: Db,
  p: TokenPrincipal,
  requested: string | undefined,
): Promise<string> {
  if (p.kind === "tenant") return p.projectId;
  if (requested) {
    const exists = await db.project.findUnique({ where: { id: requested }, select: { id: true } });
    if (!exists) throw apiError("INVALID_REFERENCE", `no project ${requested}`, { field: "projectId" });
    return requested;
  }
  if (p.projectId) return p.projectId;
  const def = await db.project.findUnique({ where: { name: DEFAULT_PROJECT_NAME } });
  if (!def)
    throw apiError("INVALID_REFERENCE", "projectId is required (no 'default' project)", {
      field: "projectId",
    });
  return def.id;
}
