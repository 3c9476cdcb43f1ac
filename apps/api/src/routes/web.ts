import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyPluginAsync, FastifyReply } from "fastify";

/** The web console's build (@skiff/web's dist/), or undefined when it has not been built. */
export function webConsoleDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve("@skiff/web/package.json");
    const dir = join(dirname(pkg), "dist");
    return existsSync(join(dir, "index.html")) ? dir : undefined;
  } catch {
    return undefined;
  }
}

// Everything the page loads comes from this origin; xterm.js sets inline styles.
const CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

function secured(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer");
}

/**
 * The web console at / (index.html) and /assets/* (hashed bundles, cached for good). Public: the
 * page holds no data; it signs in with a token and then calls the API like any client.
 */
export const webRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const root = opts.dir ?? webConsoleDir();
  if (!root) {
    app.log.warn("the web console is not built (pnpm --filter @skiff/web build): / answers 404");
    return;
  }
  // Caching is said per route below (the plugin would answer max-age=0 for everything).
  await app.register(fastifyStatic, { root, serve: false, cacheControl: false });
  const route = { config: { auth: "public" as const }, schema: { hide: true } };
  app.get("/", route, (_req, reply) =>
    secured(reply).header("cache-control", "no-cache").sendFile("index.html"),
  );
  app.get("/assets/*", route, (req, reply) => {
    const file = (req.params as { "*": string })["*"];
    return secured(reply)
      .header("cache-control", "public, max-age=31536000, immutable")
      .sendFile(join("assets", file));
  });
};
