/** Why a parser refused its input. Parsers never throw on bytes from a guest or the network. */
export type WireErrorCode =
  | "TRUNCATED"
  | "BAD_LENGTH"
  | "BAD_VERSION"
  | "BAD_CHECKSUM"
  | "UNSUPPORTED"
  | "BAD_FLAGS"
  | "BAD_OPTION"
  | "FRAGMENTED";

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: WireErrorCode };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T>(code: WireErrorCode): Parsed<T> {
  return { ok: false, code };
}
