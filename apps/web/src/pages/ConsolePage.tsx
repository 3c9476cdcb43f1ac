import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Api, ApiError } from "../api.js";
import type { Vps } from "../generated/api.js";
import { usePoll } from "../hooks.js";
import { ErrorBox, StateBadge } from "../ui.js";

/**
 * The console WebSocket carries the token as a subprotocol (`skiff.token.<token>`, next to
 * `skiff.console`, which the API answers with): browsers cannot set an Authorization header on a
 * WebSocket, and a token in the URL would land in access logs and history.
 */
export function openConsoleSocket(api: Api, id: string): WebSocket {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/vps/${encodeURIComponent(id)}/console`, [
    "skiff.console",
    `skiff.token.${api.token}`,
  ]);
  ws.binaryType = "arraybuffer";
  return ws;
}

/** A close code from the API is 4000 + the HTTP status; its reason starts with the error code. */
function closeError(code: number, reason: string): ApiError | undefined {
  if (code === 1000) return undefined;
  const [errCode, ...rest] = reason.split(":");
  if (code >= 4000 && errCode)
    return new ApiError(code - 4000, errCode.trim(), rest.join(":").trim() || reason);
  return new ApiError(
    0,
    "CONSOLE_CLOSED",
    `the console connection closed (${code}${reason ? `: ${reason}` : ""})`,
  );
}

export function ConsolePage({ api, id }: { api: Api; id: string }) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | undefined>(undefined);
  const socket = useRef<WebSocket | undefined>(undefined);
  const toolbar = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<string>();
  const [status, setStatus] = useState("connecting");
  const [error, setError] = useState<ApiError>();
  const [generation, setGeneration] = useState(0);
  const vps = usePoll(() => api.get<Vps>(`/v1/vps/${id}`), 0, [id]);

  useEffect(() => {
    const t = new Terminal({
      convertEol: true,
      cursorBlink: true,
      scrollback: 5000,
    });
    const fit = new FitAddon();
    t.loadAddon(fit);
    t.open(host.current!);
    fit.fit();
    // The terminal takes Tab (shells complete with it): Ctrl+] hands the focus back to the page.
    t.attachCustomKeyEventHandler((e) => {
      if (e.type === "keydown" && e.ctrlKey && e.key === "]") {
        toolbar.current?.querySelector<HTMLElement>("button:not(:disabled), a")?.focus();
        return false;
      }
      return true;
    });
    t.focus();
    term.current = t;
    const ws = openConsoleSocket(api, id);
    socket.current = ws;
    const enc = new TextEncoder();
    const send = (s: string) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(s));
    const input = t.onData(send);
    ws.onopen = () => {
      setStatus("connected");
      setError(undefined);
    };
    ws.onmessage = (m) => {
      if (m.data instanceof ArrayBuffer) {
        t.write(new Uint8Array(m.data));
        return;
      }
      try {
        const msg = JSON.parse(String(m.data)) as { type?: string; state?: string };
        if (msg.type === "state" && msg.state) setState(msg.state);
      } catch {
        t.write(String(m.data));
      }
    };
    ws.onclose = (e) => {
      setStatus("closed");
      setError(closeError(e.code, e.reason));
    };
    // The serial line has no window size: resizing only refits the terminal to its box.
    const onResize = () => fit.fit();
    addEventListener("resize", onResize);
    return () => {
      removeEventListener("resize", onResize);
      input.dispose();
      ws.close();
      t.dispose();
    };
  }, [api, id, generation]);

  const sendBreak = () => socket.current?.send(JSON.stringify({ type: "break" }));
  const copy = () => void navigator.clipboard?.writeText(term.current?.getSelection() ?? "");
  const paste = async () => {
    const text = await navigator.clipboard?.readText().catch(() => "");
    if (text) term.current?.paste(text);
  };
  const name = vps.data?.name ?? id;
  const shown = state ?? vps.data?.state;
  return (
    <section aria-label={`Console of ${name}`} class="console">
      <h2>
        Console: {name} {shown ? <StateBadge state={shown} /> : null}
      </h2>
      <div class="toolbar" ref={toolbar}>
        <button type="button" onClick={sendBreak} disabled={status !== "connected"}>
          Send BREAK
        </button>
        <button type="button" onClick={copy}>
          Copy selection
        </button>
        <button type="button" onClick={paste} disabled={status !== "connected"}>
          Paste
        </button>
        <button type="button" onClick={() => setGeneration((g) => g + 1)} disabled={status !== "closed"}>
          Reconnect
        </button>
        <a href="#/vps">Back to VPSes</a>
        <span class="muted">Ctrl+] leaves the terminal</span>
        <span role="status" class="muted">
          {status}
          {state ? `, VPS ${state}` : ""}
        </span>
      </div>
      <ErrorBox error={error} />
      <div class="console-screen" ref={host} />
    </section>
  );
}
