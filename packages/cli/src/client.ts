import { SkiffError } from "@skiff/common";

/** An error the API answered with its {error:{code,message,details}} shape (or one we made up for it). */
export class ApiError extends SkiffError {
  readonly status: number;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = "ApiError";
    this.status = status;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  readonly idempotencyKey?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ClientOptions {
  readonly baseUrl: string;
  readonly token?: string;
  /** Where the URL came from, for error messages ("SKIFF_API_URL", "the local cluster"...). */
  readonly source?: string;
  /** Where the token came from, said when the API refuses it. */
  readonly tokenSource?: string;
  readonly timeoutMs?: number;
}

/** Builds `base + path + ?query`, leaving out undefined query values. */
export function buildUrl(baseUrl: string, path: string, query: Query = {}): string {
  const url = new URL(path, baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  // `new URL("/v1/x", "http://h/prefix/")` would drop the prefix: keep a base path if there is one.
  const basePath = new URL(baseUrl).pathname.replace(/\/$/, "");
  url.pathname = `${basePath}${path}`;
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url.toString();
}

/**
 * Turns any HTTP answer that is not 2xx into an ApiError, keeping the API's code and message. An
 * answer without the API's error shape comes from something else (a proxy, another server on that
 * port): the error says so and where it asked.
 */
export function errorFromResponse(status: number, statusText: string, text: string, url?: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = body?.error;
    if (e && typeof e.code === "string") {
      const details =
        e.details && typeof e.details === "object" ? (e.details as Record<string, unknown>) : undefined;
      return new ApiError(status, e.code, typeof e.message === "string" ? e.message : statusText, details);
    }
  } catch {
    // not JSON: a proxy, or not a Skiff API at all
  }
  const html = /^\s*<(!doctype|html|head|body)/i.test(text);
  const snippet = html ? "" : text.trim().split("\n")[0]?.slice(0, 200);
  const answer =
    `${status} ${statusText}`.trim() + (html ? " (an HTML page)" : snippet ? `: ${snippet}` : "");
  const where = url ? `${new URL(url).origin}${new URL(url).pathname}` : "the server";
  return new ApiError(
    status,
    `HTTP_${status}`,
    `${where} answered ${answer}, not a Skiff API error: is this address the Skiff API?`,
  );
}

/** The REST API over Node's fetch: JSON in, JSON out, every failure an ApiError with a code. */
export class ApiClient {
  readonly baseUrl: string;
  readonly token: string | undefined;
  private readonly source: string;
  /** Where the token came from (`SKIFF_TOKEN`, a file...), for messages. */
  readonly tokenSource: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl;
    this.token = opts.token;
    this.source = opts.source ?? "";
    this.tokenSource = opts.tokenSource;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  url(path: string, query?: Query): string {
    return buildUrl(this.baseUrl, path, query);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      accept: "application/json",
      "user-agent": "skiff-cli",
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...extra,
    };
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const headers = this.headers({
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {}),
    });
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const text = await res.text();
    if (!res.ok) {
      const e = errorFromResponse(res.status, res.statusText, text, url);
      if (e.code === "UNAUTHENTICATED") {
        const why = this.token
          ? `the token came from ${this.tokenSource ?? "the command line"}`
          : "set SKIFF_TOKEN, pass --token or `skiff login`";
        throw new ApiError(e.status, e.code, `${e.message} (${why})`, e.details);
      }
      throw e;
    }
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        res.status,
        "BAD_RESPONSE",
        `${this.baseUrl} (from ${this.source || "the command line"}) did not answer JSON: is this address the Skiff API?`,
      );
    }
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  post<T>(path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    return this.request<T>("POST", path, { body, idempotencyKey });
  }

  patch<T>(path: string, body: unknown, idempotencyKey?: string): Promise<T> {
    return this.request<T>("PATCH", path, { body, idempotencyKey });
  }

  delete<T>(path: string, idempotencyKey?: string): Promise<T> {
    return this.request<T>("DELETE", path, { idempotencyKey });
  }

  /** Every page of a list, following nextCursor. */
  async all<T>(path: string, query: Query = {}): Promise<Page<T>> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (;;) {
      const p = await this.get<Page<T>>(path, { ...query, limit: 500, cursor });
      items.push(...p.items);
      if (!p.nextCursor) return { items, nextCursor: null };
      cursor = p.nextCursor;
    }
  }

  unreachable(err: unknown): ApiError {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError") {
      return new ApiError(0, "TIMEOUT", `the API at ${this.baseUrl} did not answer in ${this.timeoutMs} ms`);
    }
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    const from = this.source ? ` (from ${this.source})` : "";
    return new ApiError(0, "UNREACHABLE", `cannot reach the API at ${this.baseUrl}${from}: ${why}`);
  }
}
