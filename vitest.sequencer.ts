import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Longest files first, across all projects of a group: two workers then finish together instead
 * of one running the slowest suite alone at the end (vitest's own order keeps each project's files
 * together, so the cluster suites of tests/e2e started minutes in). A file's length is vitest's
 * cached duration when this checkout ran it, else the committed estimate in tests/durations.json
 * (a clean clone has no cache; refresh it with `node scripts/test-durations.mjs` after `npm test`).
 */
export class LongestFirst extends BaseSequencer {
  private readonly estimates: Readonly<Record<string, number>> = JSON.parse(
    readFileSync(join(import.meta.dirname, "tests", "durations.json"), "utf8"),
  );

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (f: TestSpecification): number => {
      const path = relative(root, f.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${f.project.name}:${path}`)?.duration;
      return cached !== undefined ? cached / 1000 : (this.estimates[path] ?? 0);
    };
    const order = (f: TestSpecification) => f.project.config.sequence.groupOrder;
    return files
      .map((f) => ({ f, s: seconds(f) }))
      .sort((a, b) => order(a.f) - order(b.f) || b.s - a.s)
      .map(({ f }) => f);
  }
}
