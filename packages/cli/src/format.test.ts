import { expect, describe as group, it } from "vitest";
import { describe, formatAge, formatBytes, formatMs, shortId, table } from "./format.js";

group("table", () => {
  it("aligns columns two spaces apart under upper-case headers, numbers to the right", () => {
    const out = table(
      [
        { name: "web-1", mem: 64 },
        { name: "database", mem: 1024 },
      ],
      [
        { header: "name", value: (r) => r.name },
        { header: "mem", value: (r) => String(r.mem), align: "right" },
      ],
    );
    expect(out).toBe(["NAME       MEM", "web-1       64", "database  1024", ""].join("\n"));
  });

  it("keeps one row per line even when a value has newlines", () => {
    const out = table([{ m: "a\nb" }], [{ header: "m", value: (r) => r.m }]);
    expect(out.split("\n")).toEqual(["M", "a b", ""]);
  });
});

group("values", () => {
  it("formats sizes in binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(64 * 2 ** 20)).toBe("64 MiB");
    expect(formatBytes(1.5 * 2 ** 30)).toBe("1.5 GiB");
    expect(formatBytes(null)).toBe("-");
  });

  it("formats ages in the largest unit that fits", () => {
    const now = Date.parse("2025-01-02T00:00:00Z");
    expect(formatAge("2025-01-01T23:59:30Z", now)).toBe("30s");
    expect(formatAge("2025-01-01T23:48:00Z", now)).toBe("12m");
    expect(formatAge("2025-01-01T21:00:00Z", now)).toBe("3h");
    expect(formatAge("2024-12-28T00:00:00Z", now)).toBe("5d");
    expect(formatAge(null, now)).toBe("-");
  });

  it("formats durations and ids", () => {
    expect(formatMs(12)).toBe("12 ms");
    expect(formatMs(1500)).toBe("1.50 s");
    expect(formatMs(null)).toBe("-");
    expect(shortId("0b7c3a4e-1111-2222-3333-444455556666")).toBe("0b7c3a4e");
  });
});

group("describe", () => {
  it("lists keys aligned, sizes readable, nested objects indented", () => {
    const out = describe({ name: "n1", memoryBytes: 2 ** 30, capacity: { cpus: 4 }, nodeId: null });
    expect(out).toBe(
      [
        "name:         n1",
        "memoryBytes:  1 GiB (1073741824)",
        "capacity:",
        "  cpus:  4",
        "nodeId:       -",
        "",
      ].join("\n"),
    );
  });
});
