/**
 * The guest side of the proof: each VPS runs `counter`, which every 100 ms re-verifies a
 * checksummed memory buffer and prints `counter <n> <checksum> <sweep>:<page> ok`. Watched through
 * the API's console WebSocket (reconnecting across migrations, agent and API restarts), the lines
 * must only go on: a line whose number was seen before with other text, or a counter that starts
 * again from 1, means the guest lost its memory; any status but `ok` means it holds wrong data.
 */
import WebSocket from "ws";

const COUNTER = /counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)/g;
const PROMPT = "skiff# ";
const QUIET_MS = 5_000;
/** Console text kept (a window: a long run must not hold every byte it ever saw). */
const KEEP_CHARS = 64 * 1024;
/** Counter lines remembered for telling a replay from a restart (far more than a replay holds). */
const KEEP_LINES = 5_000;

export interface Loss {
  readonly vpsId: string;
  readonly kind: "counter-restarted" | "counter-bad" | "file-lost";
  readonly evidence: string;
}

export class GuestWatch {
  private ws?: WebSocket;
  /** The last KEEP_CHARS or so of the console; `dropped` characters came before it. */
  private text = "";
  private dropped = 0;
  private scanned = 0;
  private readonly seen = new Map<number, string>();
  private maxN = 0;
  private closed = false;
  private connects = 0;
  /** Checksum failures the guest itself reported: always a loss. */
  readonly losses: Loss[] = [];
  /**
   * Counters that started again: a loss, unless the control plane cold-started the VPS on purpose
   * (recovered from shared storage after its node was declared dead); the run decides from events.
   */
  readonly restarts: { readonly prevLineAt: number; readonly evidence: string }[] = [];
  lastLineAt = 0;
  private prevLineAt = 0;
  /** When a silent console was last closed to look again. */
  private lastKickAt = 0;
  private readonly pendingKeys: Buffer[] = [];

  constructor(
    readonly vpsId: string,
    private readonly url: () => string,
    private readonly token: string,
  ) {}

  get lines(): number {
    return this.maxN;
  }

  open(): void {
    if (this.closed) return;
    const ws = new WebSocket(`${this.url().replace("http", "ws")}/v1/vps/${this.vpsId}/console`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    this.ws = ws;
    this.connects++;
    ws.on("open", () => this.flushKeys(ws));
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return;
      this.text += Buffer.from(data as Buffer).toString("utf8");
      this.scan();
      if (this.text.length > 2 * KEEP_CHARS) {
        const cut = this.text.length - KEEP_CHARS;
        this.text = this.text.slice(cut);
        this.dropped += cut;
        this.scanned = Math.max(0, this.scanned - cut);
      }
    });
    const again = () => {
      if (this.ws !== ws || this.closed) return;
      this.ws = undefined;
      setTimeout(() => this.open(), 500);
    };
    ws.on("close", again);
    ws.on("error", () => ws.terminate());
    // A console whose node froze says nothing and never ends: a counter silent for this long
    // means look again (through whichever replica and node now serve it).
    const quiet = setInterval(() => {
      if (this.ws !== ws) return clearInterval(quiet);
      if (this.maxN > 0 && Date.now() - Math.max(this.lastLineAt, this.lastKickAt) > QUIET_MS) {
        // Not lastLineAt: that says when the counter last printed (a cold start is judged by it).
        this.lastKickAt = Date.now();
        ws.terminate();
      }
    }, 1000);
  }

  /**
   * Types into the console; while it is reconnecting the keys wait for the next connection that
   * opens (sending on a socket not open threw, or lost them).
   */
  type(s: string): void {
    this.pendingKeys.push(Buffer.from(s));
    if (this.ws?.readyState === WebSocket.OPEN) this.flushKeys(this.ws);
  }

  private flushKeys(ws: WebSocket): void {
    for (const keys of this.pendingKeys.splice(0)) ws.send(keys, { binary: true });
  }

  /** Whether the shell's prompt was printed since `mark` (a position in the text). */
  promptSince(mark: number): boolean {
    return this.contains(PROMPT, mark);
  }

  /** Characters and lines held (the run watches its own memory). */
  get held(): number {
    return this.text.length + this.seen.size;
  }

  /** Everything received so far, counted in characters (positions for `contains`). */
  get length(): number {
    return this.dropped + this.text.length;
  }

  /** For evidence: the connection's state and the last of what the console printed. */
  describe(): string {
    const state = this.ws ? ["connecting", "open", "closing", "closed"][this.ws.readyState] : "reconnecting";
    return `console ${state}, ${this.connects} connections, last output: ${JSON.stringify(this.text.slice(-400))}`;
  }

  contains(s: string, since = 0): boolean {
    return this.text.indexOf(s, Math.max(0, since - this.dropped)) >= 0;
  }

  private reset(): void {
    this.seen.clear();
    this.maxN = 0;
  }

  /**
   * The control plane cold-started the VPS on purpose: the counter typed next starts from 1, and
   * its lines are word for word the old run's (same checksum while nothing dirties the buffer),
   * so without forgetting them they would read as a replay and the counter as stopped.
   */
  coldStarted(): void {
    this.reset();
  }

  private scan(): void {
    // Lines may arrive in pieces: look only at complete ones.
    const end = this.text.lastIndexOf("\n");
    if (end < this.scanned) return;
    const chunk = this.text.slice(this.scanned, end);
    this.scanned = end;
    for (const m of chunk.matchAll(COUNTER)) {
      const n = Number(m[1]);
      // A copy of its own: a match is a slice of the whole console text, and keeping the slice
      // would keep that text alive with it (thousands of lines, each pinning its own copy).
      const line = Buffer.from(m[0], "latin1").toString("latin1");
      this.prevLineAt = this.lastLineAt;
      this.lastLineAt = Date.now();
      if (m[5] !== "ok") this.losses.push({ vpsId: this.vpsId, kind: "counter-bad", evidence: line });
      const before = this.seen.get(n);
      if (before !== undefined) {
        // A replay after reconnecting shows lines again, word for word.
        if (before !== line) this.restarted(`line ${n} was "${before}", now "${line}"`);
        continue;
      }
      if (this.maxN > 0 && n <= this.maxN) {
        this.restarted(`counter at ${n} after ${this.maxN} had been printed`);
        continue;
      }
      this.seen.set(n, line);
      if (this.seen.size > KEEP_LINES) this.seen.delete(this.seen.keys().next().value!);
      this.maxN = n;
    }
  }

  private restarted(evidence: string): void {
    this.restarts.push({ prevLineAt: this.prevLineAt, evidence });
    this.reset();
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }
}
