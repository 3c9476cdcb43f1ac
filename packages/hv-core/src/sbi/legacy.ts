import { SbiError, type SbiExtension, timeArg } from "./types.js";

/**
 * Legacy SBI v0.1 calls (SBI spec §5): one EID per function, result in a0 only.
 * Linux's earlycon uses putchar thousands of times before it probes anything else.
 */
function legacy(eid: number, name: string, fn: SbiExtension["call"]): SbiExtension {
  return { eid, name, call: fn };
}

export const legacyExtensions: SbiExtension[] = [
  legacy(0x00, "legacy set_timer", (host, { args }) => {
    host.setTimer(timeArg(args[0]!, args[1]!));
    return { legacy: 0 };
  }),
  legacy(0x01, "legacy console_putchar", (host, { args }) => {
    host.consolePutchar(args[0]! & 0xff);
    return { legacy: 0 };
  }),
  legacy(0x02, "legacy console_getchar", (host) => ({ legacy: host.consoleGetchar() })),
  legacy(0x03, "legacy clear_ipi", (host) => {
    host.setSoftwareInterrupt(false);
    return { legacy: 0 };
  }),
  // send_ipi and the remote fences take a pointer to a hart mask in guest virtual memory; with one
  // hart the only possible target is the caller, so the mask is not read.
  legacy(0x04, "legacy send_ipi", (host) => {
    host.setSoftwareInterrupt(true);
    return { legacy: 0 };
  }),
  legacy(0x05, "legacy remote_fence_i", () => ({ legacy: 0 })),
  legacy(0x06, "legacy remote_sfence_vma", (host) => {
    host.flushTlb();
    return { legacy: 0 };
  }),
  legacy(0x07, "legacy remote_sfence_vma_asid", (host) => {
    host.flushTlb();
    return { legacy: 0 };
  }),
  legacy(0x08, "legacy shutdown", (host) => {
    host.systemReset("shutdown", 0);
    return { legacy: SbiError.SUCCESS };
  }),
];
