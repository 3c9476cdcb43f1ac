/**
 * Cutting one TCP connection between two processes of the region, as a network fault would: the
 * kernel aborts it (`ss -K`, root), so both ends see a reset and nothing else is touched.
 */
import { execFileSync } from "node:child_process";

interface Socket {
  readonly local: string;
  readonly peer: string;
  readonly pid: number;
}

/** Established loopback TCP sockets with the process holding each. */
function loopbackSockets(): Socket[] {
  const out = execFileSync("ss", ["-tnpH", "state", "established", "dst", "127.0.0.1"], { encoding: "utf8" });
  const sockets: Socket[] = [];
  for (const line of out.split("\n")) {
    const m = /(127\.0\.0\.1:\d+)\s+(127\.0\.0\.1:\d+)\s+users:.*?pid=(\d+)/.exec(line);
    if (m) sockets.push({ local: m[1]!, peer: m[2]!, pid: Number(m[3]) });
  }
  return sockets;
}

/**
 * Aborts the connections from process `from` to process `to` (each seen from `from`'s side).
 * Returns how many it cut.
 */
export function cutConnections(from: number, to: number): number {
  const sockets = loopbackSockets();
  const held = new Map(sockets.map((s) => [s.local, s.pid]));
  let cut = 0;
  for (const s of sockets) {
    if (s.pid !== from || held.get(s.peer) !== to) continue;
    const port = (addr: string) => addr.slice(addr.lastIndexOf(":") + 1);
    execFileSync(
      "ss",
      [
        "-K",
        "state",
        "established",
        "src",
        s.local,
        "dst",
        s.peer,
        `( sport = :${port(s.local)} and dport = :${port(s.peer)} )`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    cut++;
  }
  return cut;
}
