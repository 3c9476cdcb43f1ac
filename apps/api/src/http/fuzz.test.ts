// Every route of the OpenAPI document, fed malformed input: the answer is always a 4xx in the
// error shape, never a 5xx. Path ids, query values and bodies are drawn from a fixed list of
// troublemakers (wrong types, huge and negative numbers, NUL and odd Unicode, deep nesting).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";

let h: Harness;

const WEIRD: unknown[] = [
  null,
  true,
  -1,
  0,
  1e300,
  2 ** 53 + 2,
  -(2 ** 31) - 1,
  "",
  " ",
  "x".repeat(5000),
  "\u0000",
  "ünïcødé ☃ \ud83d\ude00",
  "../../etc/passwd",
  "' OR 1=1 --",
  [],
  [1, "a", null],
  {},
  { nested: { deeper: { deepest: [{}] } } },
];

const QUERY_VALUES = [
  "",
  "-1",
  "0",
  "1e309",
  "abc",
  "%00",
  "true",
  "null",
  "[]",
  "a".repeat(3000),
  // Fits a 19-digit pattern, overflows a 64-bit integer (2^63 and the largest 19-digit number).
  "9223372036854775808",
  "9999999999999999999",
];

function fill(path: string): string[] {
  const ids = [crypto.randomUUID(), "not-a-uuid", "0"];
  return ids.map((id) => path.replace(/\{[^}]+\}/g, (m) => (m === "{action}" ? "stop" : id)));
}

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe("malformed input on every route", () => {
  it("never gets a 5xx, and every error has the one shape", async () => {
    const doc = (await h.call(null, "GET", "/openapi.json")).body as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
            parameters?: { in: string; name: string }[];
          }
        >
      >;
    };
    let requests = 0;
    const failures: string[] = [];
    const check = (what: string, r: { status: number; body: unknown }) => {
      requests++;
      const body = r.body as { error?: { code?: unknown; message?: unknown } } | undefined;
      if (r.status >= 500) failures.push(`${what} -> ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      else if (
        r.status >= 400 &&
        (typeof body?.error?.code !== "string" || typeof body.error.message !== "string")
      ) {
        failures.push(
          `${what} -> ${r.status} without the error shape: ${JSON.stringify(r.body).slice(0, 200)}`,
        );
      }
    };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const m = method.toUpperCase() as "GET" | "POST" | "DELETE" | "PATCH";
        const token =
          path.startsWith("/v1/nodes/register") || path.endsWith("/heartbeat")
            ? AGENT_TOKEN
            : h.operatorToken;
        if (path.endsWith("/console")) continue; // WebSocket upgrade: covered by the e2e test
        for (const url of fill(path)) {
          if (m === "GET" || m === "DELETE") {
            check(`${m} ${url}`, await h.call(token, m, url));
            for (const p of (op.parameters ?? []).filter((x) => x.in === "query")) {
              for (const v of QUERY_VALUES) {
                const q = `${url}?${encodeURIComponent(p.name)}=${encodeURIComponent(v)}`;
                check(`${m} ${q}`, await h.call(token, m, q));
              }
            }
            continue;
          }
          const props = Object.keys(op.requestBody?.content?.["application/json"]?.schema?.properties ?? {});
          for (const body of WEIRD)
            check(
              `${m} ${url} body=${JSON.stringify(body)?.slice(0, 40)}`,
              await h.call(token, m, url, body ?? {}),
            );
          for (const prop of props) {
            for (const v of WEIRD) {
              check(
                `${m} ${url} ${prop}=${JSON.stringify(v)?.slice(0, 40)}`,
                await h.call(token, m, url, { [prop]: v }),
              );
            }
          }
        }
      }
    }
    console.log(`${requests} malformed requests over ${Object.keys(doc.paths).length} paths`);
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(1000);
  }, 300_000);
});
