// Bundles tsc's output into dist/bundle/: the package's two entries (index, memory) and the `hv`
// CLI (main, a chunk per command), with their shared code in chunks, so a class is one class
// whichever entry it came through. Node's ESM loader resolves, reads and links each file on its
// own: `hv boot` loaded ~57 files of hv-core and a VMM's vCPU thread ~61 (module loading was
// ~110 ms of CPU of a ~600 ms boot at load 8, ~20 ms bundled). @skiff/common stays an import: it
// requires pino lazily from its own folder.
import { rmSync } from "node:fs";
import { build } from "esbuild";

const outdir = "dist/bundle";
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { index: "dist/index.js", memory: "dist/memory/index.js", main: "dist/cli/main.js" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["@skiff/common"],
  logLevel: "warning",
});
