import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";
import { WARM_UP_INPUT, warmUpImage } from "./warm-up-guest.js";

describe("the interpreter's warm-up guest", () => {
  it("idles, wakes on console input, takes every trap it is written for in S- and U-mode and idles again", () => {
    const m = Machine.create({ mode: "hypervisor", memoryBytes: 8 << 20, image: warmUpImage() });
    const taken = new Set<string>();
    const trap = m.hart.trap.bind(m.hart);
    m.hart.trap = (cause, tval) => {
      taken.add(
        `${cause < 0 ? "interrupt" : "exception"} ${cause & 0xff} from ${m.hart.priv === 0 ? "U" : "S"}`,
      );
      trap(cause, tval);
    };
    let out = "";
    m.onConsoleOutput = (bytes) => {
      out += Buffer.from(bytes).toString("latin1");
    };
    expect(m.run(1_000_000).kind).toBe("idle");
    expect(out).toBe("");
    m.consoleInput(WARM_UP_INPUT);
    expect(m.run(1_000_000).kind).toBe("idle");
    expect(m.uart.read(5, 1) & 1).toBe(0); // the byte was read
    // Each pass prints through the SBI console and the UART.
    expect(out).toBe(".W".repeat(10));
    m.close();
    // misaligned jump 0, illegal 2, breakpoint 3, misaligned AMO 6, SBI 9, page faults 12/13/15
    const s = [0, 2, 3, 6, 9, 12, 13, 15].map((c) => `exception ${c} from S`);
    const u = [2, 8, 13].map((c) => `exception ${c} from U`);
    const irqs = [1, 5, 9].map((c) => `interrupt ${c} from S`);
    expect([...taken].sort()).toEqual([...s, ...u, ...irqs].sort());
  });
});
