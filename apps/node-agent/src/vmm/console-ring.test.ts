import { describe, expect, it } from "vitest";
import { ConsoleRing } from "./console-ring.js";

const text = (b: Uint8Array) => Buffer.from(b).toString();
const bytes = (s: string) => Buffer.from(s);

describe("ConsoleRing", () => {
  it("keeps everything until full", () => {
    const r = new ConsoleRing(8);
    r.write(bytes("abc"));
    r.write(bytes("de"));
    expect(text(r.contents())).toBe("abcde");
  });

  it("keeps the last capacity bytes across wrap-around", () => {
    const r = new ConsoleRing(8);
    r.write(bytes("abcdef"));
    r.write(bytes("ghij"));
    expect(text(r.contents())).toBe("cdefghij");
    r.write(bytes("k"));
    expect(text(r.contents())).toBe("defghijk");
    expect(r.totalWritten).toBe(11);
  });

  it("takes a write larger than the ring", () => {
    const r = new ConsoleRing(4);
    r.write(bytes("x"));
    r.write(bytes("0123456789"));
    expect(text(r.contents())).toBe("6789");
    r.write(bytes("ab"));
    expect(text(r.contents())).toBe("89ab");
  });
});
