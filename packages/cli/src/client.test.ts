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

  it("names a non-JSON answer by its HTTP status", () => {
    const e = errorFromResponse(502, "Bad Gateway", "<html>upstream down</html>\n...");
    expect(e.code).toBe("HTTP_502");
    expect(e.message).toBe("Bad Gateway: <html>upstream down</html>");
  });
});
