/**
 * The API as the console calls it: same origin, `Authorization: Bearer`, and every failure as an
 * ApiError with the API's code and message (or a code of our own when there was no API answer).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What any failure looks like on screen: the API's code and message. */
export function errorOf(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, "UI_ERROR", err instanceof Error ? err.message : String(err));
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class Api {
  constructor(readonly token: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "UNREACHABLE", `the API did not answer: ${(err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        res.status,
        e?.code ?? `HTTP_${res.status}`,
        e?.message ?? (text.slice(0, 200) || res.statusText),
      );
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("POST", path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  /** Every item of a paginated list (the console's lists are small: a few pages at most). */
  async all<T>(path: string, maxPages = 10): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < maxPages; i++) {
      const sep = path.includes("?") ? "&" : "?";
      const p: Page<T> = await this.get(
        `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      out.push(...p.items);
      cursor = p.nextCursor;
      if (!cursor) break;
    }
    return out;
  }
}
