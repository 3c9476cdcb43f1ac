import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { RawData } from "ws";
import { z } from "zod";
import { tokenPrincipal } from "../http/auth.js";
import { IdParams } from "../http/schemas.js";

/** WebSocket close codes: 4000 + the HTTP status the situation would have had. */
const CLOSE = { notFound: 4404, conflict: 4409, agent: 4502 } as const;

/**
 * /v1/vps/:id/console: a WebSocket bridged to the agent's console stream. Binary frames carry
 * terminal bytes both ways; the client may send the text frame {"type":"break"} (serial BREAK,
 * then a SysRq key on Linux); the server sends {"type":"state","state":...} when the VM changes
 * state, and closes when the console ends.
 */
export const consoleRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, agents } = app.deps;
  // @fastify/websocket hides its routes from the OpenAPI document; this one is part of the API.
  // (Runs after the plugin's own onRoute hook, on the route object the document is built from.)
  app.addHook("onRoute", (route) => {
    if (route.websocket && route.schema) route.schema.hide = false;
  });
  app.get(
    "/v1/vps/:id/console",
    {
      websocket: true,
      schema: {
        tags: ["vps"],
        summary: "Serial console (WebSocket)",
        description:
          'A WebSocket (GET with `Upgrade: websocket`; 101 Switching Protocols), authenticated by the same Authorization header, or (browsers cannot set it) by offering the subprotocols `skiff.console` and `skiff.token.<token>`. Binary frames: terminal bytes, both ways. Client text frame {"type":"break"}: serial BREAK. Server text frame {"type":"state","state":...}: the VM changed state. readOnly=true: watch only; replay=false: skip the recent screen. Closes with 4404 (no such VPS), 4409 (not running) or 4502 (the node could not be reached), the reason starting with the error code.',
        params: IdParams,
        querystring: z.object({
          readOnly: z.enum(["true", "false"]).optional(),
          replay: z.enum(["true", "false"]).optional(),
        }),
      },
    },
    async (socket, req) => {
      // Frames that arrive while the VPS and its node are looked up are kept, not dropped (ws
      // discards messages nobody listens to): a client may type as soon as the socket opens.
      const early: { data: RawData; isBinary: boolean }[] = [];
      const keep = (data: RawData, isBinary: boolean) => early.push({ data, isBinary });
      socket.on("message", keep);
      const p = tokenPrincipal(req);
      const { id } = req.params as { id: string };
      const q = req.query as { readOnly?: string; replay?: string };
      const v = await db.vps.findFirst({
        where: { id, ...(p.kind === "tenant" ? { projectId: p.projectId } : {}) },
      });
      if (!v) return socket.close(CLOSE.notFound, "VPS_NOT_FOUND");
      if (!v.nodeId || !["running", "paused", "rebooting", "migrating"].includes(v.state)) {
        return socket.close(CLOSE.conflict, `INVALID_STATE: the VPS is ${v.state}`);
      }
      const node = await db.node.findUnique({ where: { id: v.nodeId } });
      if (!node) return socket.close(CLOSE.conflict, "INVALID_STATE: no node");
      const readOnly = q.readOnly === "true";
      const session = agents
        .forNode(node)
        .openConsole({ vmId: v.id, epoch: v.epoch }, { readOnly, skipReplay: q.replay === "false" });
      session.onOutput((bytes) => socket.send(bytes, { binary: true }));
      session.onState((state) => socket.send(JSON.stringify({ type: "state", state })));
      session.onEnd((err) => {
        if (socket.readyState === socket.OPEN) {
          socket.close(
            err ? CLOSE.agent : 1000,
            err ? `${err.code}: ${err.message}`.slice(0, 120) : "console ended",
          );
        }
      });
      const onMessage = (data: RawData, isBinary: boolean) => {
        const bytes = Buffer.isBuffer(data)
          ? data
          : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
        if (isBinary) {
          if (!readOnly) session.input(bytes);
          return;
        }
        try {
          const msg = JSON.parse(bytes.toString("utf8")) as { type?: string };
          if (msg.type === "break" && !readOnly) session.sendBreak();
        } catch {
          // Text that is not a control message is typed input (e.g. from simple clients).
          if (!readOnly) session.input(bytes);
        }
      };
      socket.off("message", keep);
      socket.on("message", onMessage);
      for (const m of early.splice(0)) onMessage(m.data, m.isBinary);
      socket.on("close", () => session.close());
    },
  );
};
