import { describe, expect, it } from "vitest";
import { buildUrl, errorFromResponse } from "./client.js";

describe("buildUrl", () => {
  it("joins base and path, drops undefined query values", () => {
    expect(
      buildUrl("http://127.0.0.1:8080", "/v1/vps", { state: "running", nodeId: undefined, limit: 5 }),
    ).toBe("http://127.0.0.1:8080/v1/vps?state=running&limit=5");
  });

  it("keeps a base path (an API behind a reverse proxy)", () => {
    expect(buildUrl("https://cloud.example/skiff/", "/v1/plans")).toBe(
      "https://cloud.example/skiff/v1/plans",
    );
  });
});

describe("errorFromResponse", () => {
  it("keeps the API's code, message and details", () => {
    const e = errorFromResponse(
      409,
      "Conflict",
      JSON.stringify({
        error: { code: "VPS_BUSY", message: "VPS is busy with stop", details: { action: "stop" } },
      }),
    );
    expect(e).toMatchObject({ status: 409, code: "VPS_BUSY", message: "VPS is busy with stop" });
    expect(e.details).toEqual({ action: "stop" });
  });

  it("names a non-JSON answer by its HTTP status and address, without the page's markup", () => {
    const e = errorFromResponse(
      502,
      "Bad Gateway",
      "<html>upstream down</html>\n...",
      "http://h:1/v1/x?limit=5",
    );
    expect(e.code).toBe("HTTP_502");
    expect(e.message).toBe(
      "http://h:1/v1/x answered 502 Bad Gateway (an HTML page), not a Skiff API error: is this address the Skiff API?",
    );
    expect(errorFromResponse(503, "Service Unavailable", "try later\n").message).toBe(
      "the server answered 503 Service Unavailable: try later, not a Skiff API error: is this address the Skiff API?",
    );
  });
});
