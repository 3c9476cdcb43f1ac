import { describe, expect, it } from "vitest";
import { isTransientDbError } from "./transient.js";

describe("isTransientDbError", () => {
  it("retries what says nothing about the request", () => {
    expect(isTransientDbError({ code: "P2028", message: "Transaction API error: expired transaction" })).toBe(
      true,
    );
    expect(isTransientDbError({ code: "P1001" })).toBe(true);
    expect(
      isTransientDbError({ code: "57P01", message: "terminating connection due to administrator command" }),
    ).toBe(true);
    expect(isTransientDbError({ code: "40P01" })).toBe(true);
    expect(
      isTransientDbError(new Error("wrapped", { cause: new Error("connect ECONNREFUSED 127.0.0.1:5432") })),
    ).toBe(true);
  });

  it("does not retry a request's own errors", () => {
    expect(isTransientDbError({ code: "P2002", message: "Unique constraint failed" })).toBe(false);
    expect(isTransientDbError({ code: "23505" })).toBe(false);
    expect(isTransientDbError(new Error("NO_CAPACITY"))).toBe(false);
    expect(isTransientDbError(undefined)).toBe(false);
  });
});
