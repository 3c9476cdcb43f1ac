import { describe, expect, it } from "vitest";
import { LSR_BI, LSR_DR, LSR_OE, LSR_RXFE, LSR_TEMT, LSR_THRE, Uart16550 } from "./uart16550.js";

const RBR = 0;
const THR = 0;
const IER = 1;
const IIR = 2;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

function setup(rxFifoBytes?: number) {
  const levels: boolean[] = [];
  let irq = false;
  const uart = new Uart16550(
    (level) => {
      irq = level;
      levels.push(level);
    },
    rxFifoBytes === undefined ? {} : { rxFifoBytes },
  );
  const out: number[] = [];
  uart.onOutput = (bytes) => out.push(...bytes);
  const r = (reg: number) => uart.read(reg, 1);
  const w = (reg: number, v: number) => uart.write(reg, 1, v);
  return { uart, out, r, w, irq: () => irq, levels };
}

/** Reads RX like Linux's serial8250_rx_chars: LSR, then RBR while DR is set. */
function drain(r: (reg: number) => number): { chars: number[]; lsrs: number[] } {
  const chars: number[] = [];
  const lsrs: number[] = [];
  for (let lsr = r(LSR); lsr & LSR_DR; lsr = r(LSR)) {
    lsrs.push(lsr);
    chars.push(r(RBR));
  }
  return { chars, lsrs };
}

describe("Uart16550", () => {
  it("resets to a quiet state with an empty transmitter", () => {
    const { r } = setup();
    expect(r(IIR)).toBe(0x01);
    expect(r(LSR)).toBe(LSR_THRE | LSR_TEMT);
    expect(r(IER)).toBe(0);
    expect(r(MSR) & 0xf0).toBe(0xb0);
  });

  it("transmits THR writes at once and keeps THRE/TEMT set", () => {
    const { r, w, out } = setup();
    for (const c of "hi\n") w(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...out)).toBe("hi\n");
    expect(r(LSR) & (LSR_THRE | LSR_TEMT)).toBe(LSR_THRE | LSR_TEMT);
  });

  it("latches the divisor behind DLAB without disturbing IER", () => {
    const { r, w, out } = setup();
    w(IER, 0x05);
    w(LCR, 0x83);
    w(0, 0x01);
    w(1, 0x00);
    expect(r(0)).toBe(0x01);
    expect(r(1)).toBe(0x00);
    w(LCR, 0x03);
    expect(r(IER)).toBe(0x05);
    expect(out).toEqual([]); // the DLL write was not a THR write
    w(SCR, 0x5a);
    expect(r(SCR)).toBe(0x5a);
  });

  it("raises THRE when ETBEI is enabled and clears it on the IIR read that reports it", () => {
    const { r, w, irq } = setup();
    w(FCR, 0x01);
    // Linux's startup THRE test: enable, read IIR, disable, enable again, read IIR.
    w(IER, 0x02);
    expect(irq()).toBe(true);
    expect(r(IIR)).toBe(0xc2);
    expect(irq()).toBe(false);
    expect(r(IIR)).toBe(0xc1);
    w(IER, 0x00);
    w(IER, 0x02);
    expect(r(IIR)).toBe(0xc2);
    // After each THR write the (instant) transmitter is empty again: THRE is owed once more.
    w(THR, 0x41);
    expect(irq()).toBe(true);
    w(IER, 0x00);
    expect(irq()).toBe(false);
  });

  it("reports received data by FIFO trigger level, character timeout below it", () => {
    const { uart, r, w, irq } = setup();
    w(FCR, 0x01 | 0x02 | 0x80); // enable, clear RX, trigger at 8
    w(IER, 0x01);
    expect(irq()).toBe(false);
    uart.pushInput(new TextEncoder().encode("abc"));
    expect(irq()).toBe(true);
    expect(r(IIR)).toBe(0xcc); // timeout: below trigger
    uart.pushInput(new TextEncoder().encode("defgh"));
    expect(r(IIR)).toBe(0xc4);
    expect(uart.hasInput()).toBe(true);
    expect(String.fromCharCode(...drain(r).chars)).toBe("abcdefgh");
    expect(irq()).toBe(false);
    expect(uart.hasInput()).toBe(false);
    expect(r(IIR)).toBe(0xc1);
    expect(r(RBR)).toBe(0); // empty FIFO reads harmlessly
  });

  it("clears the RX FIFO on FCR reset and when the FIFO is switched off", () => {
    const { uart, r, w } = setup();
    w(FCR, 0x01);
    uart.pushInput(Uint8Array.of(1, 2, 3));
    w(FCR, 0x03);
    expect(r(LSR) & LSR_DR).toBe(0);
    uart.pushInput(Uint8Array.of(4));
    w(FCR, 0x00);
    expect(r(LSR) & LSR_DR).toBe(0);
    expect(r(IIR)).toBe(0x01); // FIFO bits clear in 16450 mode
    uart.pushInput(Uint8Array.of(5));
    w(FCR, 0x02); // FCR0 = 0: the reset bit is not programmed, FIFO mode stays off
    expect(r(LSR) & LSR_DR).toBe(LSR_DR);
  });

  it("drops input past the FIFO depth and reports an overrun once", () => {
    const { uart, r, w, irq } = setup(16);
    w(FCR, 0x01);
    w(IER, 0x04); // line status only
    uart.pushInput(new Uint8Array(20).fill(0x61));
    expect(irq()).toBe(true);
    expect(r(IIR)).toBe(0xc6); // receiver line status has the top priority
    const lsr = r(LSR);
    expect(lsr & LSR_OE).toBe(LSR_OE);
    expect(r(LSR) & LSR_OE).toBe(0); // cleared by the read
    expect(irq()).toBe(false);
    expect(drain(r).chars.length).toBe(16);
  });

  it("delivers a break as LSR.BI with a NUL character, as SysRq expects", () => {
    const { uart, r, w, irq } = setup();
    w(FCR, 0x01);
    w(IER, 0x05);
    uart.pushInput(Uint8Array.of(0x78));
    uart.sendBreak();
    uart.pushInput(Uint8Array.of(0x68)); // 'h' after the break: the SysRq command
    expect(irq()).toBe(true);
    const { chars, lsrs } = drain(r);
    expect(chars).toEqual([0x78, 0x00, 0x68]);
    expect(lsrs[0]! & LSR_BI).toBe(0);
    expect(lsrs[0]! & LSR_RXFE).toBe(LSR_RXFE); // an error character is somewhere in the FIFO
    expect(lsrs[1]! & LSR_BI).toBe(LSR_BI); // BI shows when the NUL reaches the top
    expect(lsrs[2]! & (LSR_BI | LSR_RXFE)).toBe(0);
    expect(irq()).toBe(false);
  });

  it("loops THR back to RBR and MCR to MSR in loopback mode", () => {
    const { uart, r, w, out } = setup();
    w(MCR, 0x10);
    expect(r(MSR)).toBe(0x0b); // CTS, DSR, DCD dropped (deltas)
    expect(r(MSR)).toBe(0x00);
    w(MCR, 0x10 | 0x0f);
    expect(r(MSR)).toBe(0xfb);
    w(THR, 0x55);
    uart.pushInput(Uint8Array.of(0x99)); // the line is disconnected
    expect(out).toEqual([]);
    expect(drain(r).chars).toEqual([0x55]);
    w(MCR, 0x10 | 0x0b); // RI trailing edge
    expect(r(MSR) & 0x04).toBe(0x04);
  });

  it("raises the modem status interrupt on MSR deltas and clears it on MSR read", () => {
    const { r, w, irq } = setup();
    w(IER, 0x08);
    w(MCR, 0x10);
    expect(irq()).toBe(true);
    expect(r(IIR)).toBe(0x00);
    r(MSR);
    expect(irq()).toBe(false);
  });

  it("round-trips mid-operation state: FIFO bytes, a pending break, registers", () => {
    const a = setup();
    a.w(FCR, 0x41);
    a.w(IER, 0x07);
    a.w(LCR, 0x83);
    a.w(0, 0x03);
    a.w(LCR, 0x03);
    a.w(SCR, 0x42);
    a.uart.pushInput(new TextEncoder().encode("xyz"));
    a.uart.sendBreak();
    a.r(RBR); // "x" consumed
    const saved = a.uart.save();

    const b = setup();
    b.uart.restore(saved, 1);
    expect(b.irq()).toBe(true);
    expect(b.uart.save()).toEqual(saved);
    expect(b.r(SCR)).toBe(0x42);
    b.w(LCR, 0x83);
    expect(b.r(0)).toBe(0x03);
    b.w(LCR, 0x03);
    expect(b.r(IIR)).toBe(0xcc);
    const { chars, lsrs } = drain(b.r);
    expect(chars).toEqual([0x79, 0x7a, 0x00]);
    expect(lsrs[2]! & LSR_BI).toBe(LSR_BI);
    expect(() => b.uart.restore({ ...saved, rx: "nope" }, 1)).toThrow(/rx/);
    expect(() => b.uart.restore(saved, 0)).toThrow(/version 0/);
  });

  it("treats odd offsets and sizes without throwing", () => {
    const { uart } = setup();
    expect(uart.read(0x80, 4)).toBe(0);
    uart.write(0xff, 1, 1);
    uart.write(LSR, 1, 0);
    expect(uart.read(LSR, 4)).toBe(LSR_THRE | LSR_TEMT);
  });
});
