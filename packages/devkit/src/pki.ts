/**
 * Region certificates for local clusters and tests: a CA made on the first use of a directory, a
 * certificate per component kept while valid (skiff-pki does the same for docker-compose).
 */
import { API_IDENTITY, ensureIssued, initCa, loadTls, nodeIdentity, type TlsMaterial } from "@skiff/pki";
import { makeTempDir } from "./temp.js";

/** The CA in `dir` (made when missing) and a certificate for each identity; says if the CA is new. */
export async function regionCertificates(
  dir: string,
  identities: readonly string[],
  region = "local",
): Promise<{ caCreated: boolean }> {
  const caCreated = await initCa(dir, region);
  for (const id of identities) await ensureIssued(dir, id);
  return { caCreated };
}

export interface TestRegion {
  /** SKIFF_TLS_DIR for the processes a test starts. */
  readonly dir: string;
  /** The control plane's material, for a test that calls agents as the API does. */
  readonly api: TlsMaterial;
  /** Issues (once) the certificate of node `name`. */
  node(name: string): Promise<void>;
}

let testRegionOnce: Promise<TestRegion> | undefined;

/** One test region per test process: its CA and the `api` certificate, nodes' issued on demand. */
export function testRegion(): Promise<TestRegion> {
  testRegionOnce ??= (async () => {
    const dir = makeTempDir("skiff-test-pki-").path;
    await regionCertificates(dir, [API_IDENTITY], "test");
    const api = loadTls((await ensureIssued(dir, API_IDENTITY)).files, API_IDENTITY);
    return { dir, api, node: async (name) => void (await ensureIssued(dir, nodeIdentity(name))) };
  })();
  return testRegionOnce;
}
