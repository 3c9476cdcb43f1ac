import { describe, expect, it } from "vitest";
import { answerMetadata, type InstanceView } from "./documents.js";
import { encodeResponse, parseRequestHead } from "./http.js";

const VIEW: InstanceView = {
  id: "vps-1",
  hostname: "web1",
  publicKeys: ["ssh-ed25519 AAAA a@b", "ssh-rsa BBBB c@d"],
  ipv4: "10.1.0.10",
  mac: "52:54:00:00:00:0a",
  netmask: "255.255.255.0",
  gateway: "10.1.0.1",
};

describe("metadata documents", () => {
  it("answers each field as text, the index, and the whole as JSON", () => {
    expect(answerMetadata("GET", "/metadata/v1/public-keys", VIEW).body).toBe(
      "ssh-ed25519 AAAA a@b\nssh-rsa BBBB c@d\n",
    );
    expect(answerMetadata("GET", "/metadata/v1/interfaces/private/0/ipv4/netmask", VIEW).body).toBe(
      "255.255.255.0\n",
    );
    expect(answerMetadata("GET", "/metadata/v1/", VIEW).body.split("\n")).toContain("hostname");
    const doc = answerMetadata("GET", "/metadata/v1.json", VIEW);
    expect(doc.contentType).toBe("application/json");
    expect(JSON.parse(doc.body).interfaces.private[0]).toEqual({
      mac: VIEW.mac,
      ipv4: { address: VIEW.ipv4, netmask: VIEW.netmask, gateway: VIEW.gateway },
    });
  });

  it("refuses other methods and unknown paths", () => {
    expect(answerMetadata("POST", "/metadata/v1/hostname", VIEW).status).toBe(405);
    for (const path of ["/", "/metadata/v1/nope", "/metadata/v10/hostname", "/latest/meta-data/"])
      expect(answerMetadata("GET", path, VIEW).status, path).toBe(404);
  });
});

describe("request heads", () => {
  it("waits for the blank line, takes the path without its query, refuses a malformed line", () => {
    expect(parseRequestHead(Buffer.from("GET /metadata/v1/id HTTP/1.1\r\nHost: x\r\n"))).toEqual({
      kind: "incomplete",
    });
    expect(parseRequestHead(Buffer.from("GET /a?b=c HTTP/1.0\r\n\r\n"))).toEqual({
      kind: "complete",
      head: { method: "GET", path: "/a" },
    });
    for (const line of [
      "GET / HTTP/2.0",
      "GET  / HTTP/1.1",
      "get / HTTP/1.1",
      "GET x HTTP/1.1",
      "\u0000\u0001",
    ])
      expect(parseRequestHead(Buffer.from(`${line}\r\n\r\n`)), line).toEqual({ kind: "bad" });
  });

  it("encodes a response with its length; HEAD gets the head alone", () => {
    const full = encodeResponse({ status: 200, contentType: "text/plain", body: "héllo\n" }).toString();
    expect(full).toMatch(/^HTTP\/1\.1 200 OK\r\n.*Content-Length: 7\r\n.*\r\n\r\nhéllo\n$/s);
    expect(encodeResponse({ status: 404, contentType: "text/plain", body: "x" }, true).toString()).toMatch(
      /^HTTP\/1\.1 404 Not Found\r\n.*\r\n\r\n$/s,
    );
  });
});
