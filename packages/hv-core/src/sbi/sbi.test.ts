import { describe, expect, it } from "vitest";
import { SBI_IMPL_ID, SBI_SPEC_VERSION } from "./base.js";
import { SbiDispatcher } from "./dispatch.js";
import { HartState } from "./hsm.js";
import { SbiError, type SbiHost } from "./types.js";

class RecordingHost implements SbiHost {
  readonly hartId = 0;
  readonly mvendorid = 0;
  readonly marchid = 0x1234;
  readonly mimpid = 7;
  events: string[] = [];
  input: number[] = [];
  output: number[] = [];
  setTimer(deadline: number) {
    this.events.push(`timer ${deadline}`);
  }
  setSoftwareInterrupt(p: boolean) {
    this.events.push(`ssip ${p}`);
  }
  flushTlb() {
    this.events.push("flush");
  }
  consolePutchar(b: number) {
    this.output.push(b);
  }
  consoleGetchar() {
    return this.input.shift() ?? -1;
  }
  systemReset(kind: string, code: number) {
    this.events.push(`${kind} ${code}`);
  }
  hartStopped() {
    this.events.push("stopped");
  }
  hartSuspend() {
    this.events.push("suspend");
  }
}

function call(eid: number, fid: number, ...args: number[]) {
  const host = new RecordingHost();
  const x = new Int32Array(32);
  x[17] = eid;
  x[16] = fid;
  x[11] = 0x5555;
  args.forEach((a, i) => {
    x[10 + i] = a;
  });
  new SbiDispatcher().handle(host, x);
  return { a0: x[10]!, a1: x[11]!, host };
}

const BASE = 0x10;
const TIME = 0x54494d45;
const IPI = 0x735049;
const RFENCE = 0x52464e43;
const HSM = 0x48534d;
const SRST = 0x53525354;

describe("SBI", () => {
  it("BASE reports versions, ids and probes extensions", () => {
    expect(call(BASE, 0)).toMatchObject({ a0: 0, a1: SBI_SPEC_VERSION });
    expect(call(BASE, 1)).toMatchObject({ a0: 0, a1: SBI_IMPL_ID });
    expect(call(BASE, 2).a0).toBe(0);
    for (const eid of [BASE, TIME, IPI, RFENCE, HSM, SRST, 0x01]) expect(call(BASE, 3, eid).a1).toBe(1);
    expect(call(BASE, 3, 0x4442434e)).toMatchObject({ a0: 0, a1: 0 }); // DBCN: not implemented
    expect(call(BASE, 5).a1).toBe(0x1234);
    expect(call(BASE, 6).a1).toBe(7);
    expect(call(BASE, 99).a0).toBe(SbiError.NOT_SUPPORTED);
  });

  it("TIME set_timer takes a 64-bit deadline from a0/a1", () => {
    const r = call(TIME, 0, 0x10, 0x2);
    expect(r.a0).toBe(0);
    expect(r.host.events).toEqual([`timer ${2 * 2 ** 32 + 0x10}`]);
    expect(call(TIME, 0, -1, -1).host.events).toEqual([`timer ${2 ** 64 - 1}`]);
  });

  it("IPI to hart 0 sets SSIP; to a missing hart is INVALID_PARAM", () => {
    expect(call(IPI, 0, 1, 0).host.events).toEqual(["ssip true"]);
    expect(call(IPI, 0, 0, -1).host.events).toEqual(["ssip true"]);
    expect(call(IPI, 0, 2, 0).a0).toBe(SbiError.INVALID_PARAM);
    expect(call(IPI, 0, 1, 1).a0).toBe(SbiError.INVALID_PARAM);
  });

  it("RFENCE flushes the TLB for sfence.vma; hypervisor fences are not supported", () => {
    expect(call(RFENCE, 0, 1, 0).host.events).toEqual([]);
    expect(call(RFENCE, 1, 1, 0, 0, 0x1000).host.events).toEqual(["flush"]);
    expect(call(RFENCE, 2, 0, -1).host.events).toEqual(["flush"]);
    expect(call(RFENCE, 3, 1, 0).a0).toBe(SbiError.NOT_SUPPORTED);
  });

  it("HSM knows hart 0 only", () => {
    expect(call(HSM, 2, 0)).toMatchObject({ a0: 0, a1: HartState.STARTED });
    expect(call(HSM, 2, 1).a0).toBe(SbiError.INVALID_PARAM);
    expect(call(HSM, 0, 0, 0x80000000, 0).a0).toBe(SbiError.ALREADY_AVAILABLE);
    expect(call(HSM, 0, 3, 0x80000000, 0).a0).toBe(SbiError.INVALID_PARAM);
    expect(call(HSM, 1).host.events).toEqual(["stopped"]);
    expect(call(HSM, 3, 0).host.events).toEqual(["suspend"]);
    expect(call(HSM, 3, 0x80000000).a0).toBe(SbiError.NOT_SUPPORTED);
  });

  it("SRST shuts down or reboots; bad types are INVALID_PARAM", () => {
    expect(call(SRST, 0, 0, 0).host.events).toEqual(["shutdown 0"]);
    expect(call(SRST, 0, 0, 1).host.events).toEqual(["shutdown 1"]);
    expect(call(SRST, 0, 1, 0).host.events).toEqual(["reboot 0"]);
    expect(call(SRST, 0, 2, 0).host.events).toEqual(["reboot 0"]);
    expect(call(SRST, 0, 7, 0).a0).toBe(SbiError.INVALID_PARAM);
  });

  it("legacy console, timer and shutdown return in a0 only", () => {
    const put = call(0x01, 0, 0x41);
    expect(put.host.output).toEqual([0x41]);
    expect(put.a0).toBe(0);
    expect(put.a1).toBe(0x5555);
    const get = call(0x02, 0);
    expect(get.a0).toBe(-1);
    expect(call(0x00, 0, 100, 0).host.events).toEqual(["timer 100"]);
    expect(call(0x08, 0).host.events).toEqual(["shutdown 0"]);
  });

  it("unknown extensions are NOT_SUPPORTED", () => {
    expect(call(0x0a000000, 0)).toMatchObject({ a0: SbiError.NOT_SUPPORTED, a1: 0 });
    expect(call(0x09, 0).a0).toBe(SbiError.NOT_SUPPORTED);
  });
});
