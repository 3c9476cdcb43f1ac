import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentCallError } from "../agents/agent-client.js";
import type { App } from "../app.js";
import { buildOfflineApp } from "../openapi.js";
import { AGENT_CODE_TO_API, AGENT_STATUS_TO_API, apiErrorOfAgent } from "./agent-errors.js";
import { ERROR_STATUS } from "./errors.js";

const grpcStatuses = Object.values(status).filter((v): v is status => typeof v === "number");

describe("agent errors in the API's catalogue", () => {
  it("maps every gRPC status an agent can answer with, and every refined code, to a catalogued code", () => {
    expect(grpcStatuses.length).toBe(17);
    for (const s of grpcStatuses) expect(Object.keys(ERROR_STATUS)).toContain(AGENT_STATUS_TO_API[s]);
    for (const [agentCode, code] of Object.entries(AGENT_CODE_TO_API)) {
      expect({ agentCode, known: Object.hasOwn(ERROR_STATUS, code) }).toEqual({ agentCode, known: true });
    }
  });

  it("says what went wrong instead of INTERNAL for the agent's own refusals", () => {
    const of = (code: string, grpcCode: status, retryable = false) =>
      apiErrorOfAgent(new AgentCallError(code, `${code}: ...`, retryable, { grpcCode, method: "CreateVm" }));
    expect(of("DISK_NOT_FOUND", status.NOT_FOUND)).toEqual({
      code: "UNPROCESSABLE",
      status: 422,
      details: { agentCode: "DISK_NOT_FOUND", retryable: false },
    });
    expect(of("VM_CREATE_FAILED", status.FAILED_PRECONDITION).code).toBe("UNPROCESSABLE");
    expect(of("STALE_EPOCH", status.FAILED_PRECONDITION).code).toBe("CONFLICT");
    expect(of("VMM_GONE", status.UNAVAILABLE, true).code).toBe("UNAVAILABLE");
    // A code this table does not know goes by its status.
    expect(of("SNAPSHOT_MISSING", status.FAILED_PRECONDITION).code).toBe("INVALID_STATE");
    expect(of("MIGRATION_NOT_FOUND", status.NOT_FOUND).code).toBe("NOT_FOUND");
    // No status at all (a client-side failure): retryable or not.
    expect(apiErrorOfAgent(new AgentCallError("AGENT_UNAVAILABLE", "down", true)).code).toBe("UNAVAILABLE");
    expect(apiErrorOfAgent(new AgentCallError("SOMETHING_NEW", "x", false)).code).toBe("INTERNAL");
  });

  describe("through the HTTP error handler", () => {
    let app: App;
    beforeAll(async () => {
      app = await buildOfflineApp();
      app.get("/agent-error/:code", { config: { auth: "public" } }, async (req) => {
        const { code } = req.params as { code: string };
        throw new AgentCallError(code, `agent CreateVm: ${code}: refused`, false, {
          grpcCode: status.NOT_FOUND,
          method: "CreateVm",
        });
      });
      await app.ready();
    });
    afterAll(() => app.close());

    it("renders an agent's refusal with the catalogued code and status, the agent's code in details", async () => {
      const res = await app.inject({ method: "GET", url: "/agent-error/DISK_NOT_FOUND" });
      expect(res.statusCode).toBe(422);
      expect(res.json()).toEqual({
        error: {
          code: "UNPROCESSABLE",
          message: "agent CreateVm: DISK_NOT_FOUND: refused",
          details: { agentCode: "DISK_NOT_FOUND", retryable: false },
        },
      });
    });
  });
});
