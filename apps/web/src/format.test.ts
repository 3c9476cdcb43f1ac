import { describe, expect, it } from "vitest";
import { bytes, ms, percent, score } from "./format.js";

describe("figures on screen", () => {
  it("formats sizes, fractions and durations", () => {
    expect([bytes(512), bytes(1536), bytes(40 * 2 ** 20), bytes(3 * 2 ** 30)]).toEqual([
      "512 B",
      "1.5 KiB",
      "40 MiB",
      "3.0 GiB",
    ]);
    expect(percent(0.756)).toBe("76%");
    expect([ms(null), ms(12.4), ms(2500)]).toEqual(["—", "12 ms", "2.5 s"]);
    expect([score(-0.0001), score(0.12345)]).toEqual(["0.000", "0.123"]);
  });
});
