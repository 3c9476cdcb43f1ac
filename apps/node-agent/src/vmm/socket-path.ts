import { closeSync, openSync } from "node:fs";
import { basename, dirname } from "node:path";

/** Linux limits a Unix socket path (sun_path) to 107 bytes plus the NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * Runs `use` with an address for the Unix socket at `path` that fits sun_path. Deep data dirs
 * give long paths; then the socket is reached through an open fd of its directory
 * (/proc/self/fd/N/name), which the kernel resolves like the full path.
 */
export async function withSocketAddress<T>(path: string, use: (address: string) => Promise<T>): Promise<T> {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return use(path);
  const fd = openSync(dirname(path), "r");
  try {
    return await use(`/proc/self/fd/${fd}/${basename(path)}`);
  } finally {
    closeSync(fd);
  }
}
