import WebSocket from "ws";
import { ApiError, errorFromResponse } from "../client.js";
import type { Context } from "../command.js";

/** Ctrl-]: the byte that ends the session, as in telnet and virsh console. */
export const ESCAPE_BYTE = 0x1d;

/** Close codes the API uses for the console (4000 + the HTTP status the case would have had). */
const CLOSE_CODES: Record<number, { code: string; status: number }> = {
  4401: { code: "UNAUTHENTICATED", status: 401 },
  4403: { code: "FORBIDDEN", status: 403 },
  4404: { code: "VPS_NOT_FOUND", status: 404 },
  4409: { code: "INVALID_STATE", status: 409 },
  4502: { code: "AGENT_FAILED", status: 502 },
};

/**
 * The error a close code and reason stand for, or undefined for a normal end. Reasons look like
 * "CODE: message" or just "CODE".
 */
export function closeError(code: number, reason: string): ApiError | undefined {
  if (code === 1000 || code === 1005) return undefined;
  const m = /^([A-Z][A-Z0-9_]+)(?::\s*(.*))?$/s.exec(reason);
  const known = CLOSE_CODES[code];
  const errCode = m?.[1] ?? known?.code ?? "CONSOLE_CLOSED";
  const message = m?.[2] || (m ? describeClose(code) : reason) || describeClose(code);
  return new ApiError(known?.status ?? 0, errCode, message);
}

function describeClose(code: number): string {
  if (code === 4404) return "no such VPS (or not yours)";
  if (code === 4409) return "the VPS is not running";
  if (code === 4502) return "the node agent's console failed";
  return `the console closed (WebSocket code ${code})`;
}

/** Splits typed bytes at Ctrl-]: what to send, and whether the user asked to quit. */
export function splitAtEscape(chunk: Buffer): { send: Buffer; quit: boolean } {
  const i = chunk.indexOf(ESCAPE_BYTE);
  return i < 0 ? { send: chunk, quit: false } : { send: chunk.subarray(0, i), quit: true };
}

/** How long piped input waits for the console's first output before it is sent anyway. */
const HOLD_INPUT_MS = 1000;
/** After stdin ends: close once the guest has been silent this long (after QUIET_MAX_MS at most). */
const QUIET_MS = 1000;
const QUIET_MAX_MS = 10_000;

export function consoleUrl(httpUrl: string): string {
  return httpUrl.replace(/^http(s?):/, "ws$1:");
}

/**
 * Bridges the terminal to /v1/vps/:id/console. On a terminal, stdin goes raw (every key, Ctrl-C
 * included, reaches the guest) and Ctrl-] quits. Without one (a pipe), stdin's bytes are typed
 * and the session ends a moment after stdin does, so scripts can drive a console.
 */
export async function runConsole(
  ctx: Context,
  vpsId: string,
  opts: { readOnly: boolean; replay: boolean },
): Promise<number> {
  const stdin = ctx.io.stdin ?? process.stdin;
  const stdout = ctx.io.stdout ?? process.stdout;
  const url = consoleUrl(
    ctx.api.url(`/v1/vps/${vpsId}/console`, {
      readOnly: opts.readOnly ? "true" : undefined,
      replay: opts.replay ? undefined : "false",
    }),
  );
  const ws = new WebSocket(url, { headers: ctx.api.headers() });
  const tty = stdin.isTTY === true;
  let quitByUser = false;
  let raw = false;

  const restore = () => {
    if (raw) stdin.setRawMode(false);
    raw = false;
    stdin.pause();
  };

  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const end = (err?: Error) => {
      if (settled) return;
      settled = true;
      restore();
      stdin.off("data", onInput);
      stdin.off("end", onInputEnd);
      if (err) reject(err);
      else resolve(0);
    };

    const forward = (bytes: Buffer) => {
      if (bytes.length > 0 && !opts.readOnly && ws.readyState === WebSocket.OPEN)
        ws.send(bytes, { binary: true });
    };
    // The agent's end of the console is set up while the WebSocket opens; bytes typed before it
    // answers can be lost. A person never types that fast, a pipe always does: hold the input
    // until the first output (the replayed screen) or a short while, then send it.
    let held: Buffer[] | undefined = [];
    let inputEnded = false;
    const release = () => {
      if (!held) return;
      const pending = held;
      held = undefined;
      for (const b of pending) forward(b);
      if (inputEnded) hangUpWhenQuiet();
    };

    const onInput = (chunk: Buffer) => {
      const { send, quit } = tty ? splitAtEscape(chunk) : { send: chunk, quit: false };
      if (held) held.push(send);
      else forward(send);
      if (quit) {
        quitByUser = true;
        ctx.io.err("\r\n[skiff: console closed]\r\n");
        ws.close(1000, "client quit");
      }
    };

    // After a script's last line, hang up once the guest has been quiet for a moment.
    let lastOutput = Date.now();
    const hangUpWhenQuiet = () => {
      const giveUpAt = Date.now() + QUIET_MAX_MS;
      const check = () => {
        if (Date.now() - lastOutput >= QUIET_MS || Date.now() >= giveUpAt) ws.close(1000, "input ended");
        else setTimeout(check, 100).unref();
      };
      setTimeout(check, QUIET_MS).unref();
    };
    const onInputEnd = () => {
      inputEnded = true;
      if (!held) hangUpWhenQuiet();
    };

    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => end(errorFromResponse(res.statusCode ?? 0, res.statusMessage ?? "", text)));
    });
    ws.on("error", (err) => end(ctx.api.unreachable(err)));
    ws.on("open", () => {
      if (tty) {
        stdin.setRawMode(true);
        raw = true;
        ctx.io.err(
          `[skiff: connected to the console${opts.readOnly ? " (read-only)" : ""}; Ctrl-] quits]\r\n`,
        );
      }
      stdin.on("data", onInput);
      stdin.on("end", onInputEnd);
      stdin.resume();
      setTimeout(release, HOLD_INPUT_MS).unref();
    });
    ws.on("message", (data, isBinary) => {
      const bytes = Buffer.isBuffer(data)
        ? data
        : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
      lastOutput = Date.now();
      release();
      if (isBinary) {
        stdout.write(bytes);
        return;
      }
      try {
        const msg = JSON.parse(bytes.toString("utf8")) as { type?: string; state?: string };
        if (msg.type === "state") ctx.io.err(`\r\n[skiff: the VPS is ${msg.state}]\r\n`);
      } catch {
        stdout.write(bytes);
      }
    });
    ws.on("close", (code, reason) => {
      if (quitByUser) return end();
      const err = closeError(code, reason.toString("utf8"));
      if (!err && tty) ctx.io.err("\r\n[skiff: the console ended]\r\n");
      end(err);
    });
  });
}
