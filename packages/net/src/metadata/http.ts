/** Just enough HTTP/1.x (RFC 9112) for the metadata service: a request head in, one response out. */

export interface RequestHead {
  method: string;
  /** The path without a query string. */
  path: string;
}

export type HeadResult = { kind: "complete"; head: RequestHead } | { kind: "incomplete" } | { kind: "bad" };

const HEAD_END = Buffer.from("\r\n\r\n");
const REQUEST_LINE = /^([A-Z]{1,16}) (\/[\x21-\x7e]*) HTTP\/1\.[01]$/;

/** Reads the request line once the whole head (up to the blank line) has arrived. */
export function parseRequestHead(bytes: Uint8Array): HeadResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buf.indexOf(HEAD_END);
  if (end < 0) return { kind: "incomplete" };
  const line = buf.toString("latin1", 0, buf.indexOf("\r\n"));
  const match = REQUEST_LINE.exec(line);
  if (!match) return { kind: "bad" };
  const target = match[2];
  const query = target.indexOf("?");
  return { kind: "complete", head: { method: match[1], path: query < 0 ? target : target.slice(0, query) } };
}

export interface HttpAnswer {
  status: 200 | 400 | 404 | 405;
  contentType: "text/plain" | "application/json";
  body: string;
}

const REASONS: Record<HttpAnswer["status"], string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
};

/** The response's bytes; the connection closes after it (HTTP/1.0 style). */
export function encodeResponse(answer: HttpAnswer, headOnly = false): Buffer {
  const body = Buffer.from(answer.body, "utf8");
  const head =
    `HTTP/1.1 ${answer.status} ${REASONS[answer.status]}\r\n` +
    `Content-Type: ${answer.contentType}; charset=utf-8\r\n` +
    `Content-Length: ${body.length}\r\n` +
    "Connection: close\r\n\r\n";
  return headOnly ? Buffer.from(head, "latin1") : Buffer.concat([Buffer.from(head, "latin1"), body]);
}
