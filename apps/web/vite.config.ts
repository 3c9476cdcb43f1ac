import { defineConfig } from "vite";

// Every asset is bundled into dist/ (no CDN): the API serves it at / (apps/api/src/http/web.ts).
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1000 },
});
