import { IRQ } from "../irq.js";
import type { SbiHost } from "../sbi/types.js";
import { stateBool, stateBytes, stateNumber } from "../snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "../snapshot/state.js";
import type { ExitReason } from "./exit.js";

/** The parts of the machine the SBI host needs (kept narrow so the SBI can't reach the rest). */
interface SbiMachine {
  readonly hart: {
    csrRead(addr: number): number | undefined;
    setInterruptPending(bit: number, level: boolean): void;
    requestStop(): void;
    waitingForInterrupt: boolean;
  };
  onConsoleOutput: (bytes: Uint8Array) => void;
}

const CSR_MVENDORID = 0xf11;
const CSR_MARCHID = 0xf12;
const CSR_MIMPID = 0xf13;
/** Bounds the legacy console input queue; a guest that never reads can't grow host memory. */
const MAX_QUEUED_INPUT = 64 * 1024;

/** The SBI host's saved state (version 1); a disarmed timer is -1. */
export type SbiHostState = { timerDeadline: number; sbiConsole: boolean; input: Uint8Array };

/**
 * The machine side of SBI calls: a supervisor timer deadline (STIP is a level that stays set until
 * the next set_timer), IPIs to self, console, reset and HSM. Console input goes to the UART until
 * the guest uses the legacy getchar (an SBI console, e.g. hvc0); from then on it is queued here.
 */
export class MachineSbiHost implements SbiHost, Snapshottable<SbiHostState> {
  readonly hartId = 0;
  readonly stateVersion = 1;
  /** mtime at which STIP rises; +Infinity when disarmed. */
  timerDeadline = Number.POSITIVE_INFINITY;
  private sbiConsole = false;
  private input: number[] = [];

  constructor(
    private readonly machine: SbiMachine,
    private readonly actions: {
      requestExit(reason: ExitReason): void;
      pushUartInput(bytes: Uint8Array): void;
    },
  ) {}

  get mvendorid(): number {
    return this.machine.hart.csrRead(CSR_MVENDORID) ?? 0;
  }
  get marchid(): number {
    return this.machine.hart.csrRead(CSR_MARCHID) ?? 0;
  }
  get mimpid(): number {
    return this.machine.hart.csrRead(CSR_MIMPID) ?? 0;
  }

  setTimer(deadline: number): void {
    this.timerDeadline = deadline;
    this.machine.hart.setInterruptPending(IRQ.STI, false);
    // End the run slice here so the machine re-evaluates deadlines at this exact instruction.
    this.machine.hart.requestStop();
  }

  setSoftwareInterrupt(pending: boolean): void {
    this.machine.hart.setInterruptPending(IRQ.SSI, pending);
  }

  flushTlb(): void {
    const hart = this.machine.hart as { flushTlb?: () => void };
    hart.flushTlb?.();
  }

  consolePutchar(byte: number): void {
    this.machine.onConsoleOutput(Uint8Array.of(byte));
  }

  consoleGetchar(): number {
    this.sbiConsole = true;
    return this.input.shift() ?? -1;
  }

  consoleInput(bytes: Uint8Array): void {
    if (!this.sbiConsole) {
      this.actions.pushUartInput(bytes);
      return;
    }
    for (const b of bytes) if (this.input.length < MAX_QUEUED_INPUT) this.input.push(b);
  }

  systemReset(kind: "shutdown" | "reboot", code: number): void {
    this.actions.requestExit(kind === "shutdown" ? { kind: "poweroff", code } : { kind: "reboot" });
  }

  hartStopped(): void {
    this.actions.requestExit({ kind: "fatal", message: "hart 0 stopped itself (SBI HSM hart_stop)" });
  }

  hartSuspend(): void {
    this.machine.hart.waitingForInterrupt = true;
    this.machine.hart.requestStop();
  }

  save(): SbiHostState {
    return {
      timerDeadline: Number.isFinite(this.timerDeadline) ? this.timerDeadline : -1,
      sbiConsole: this.sbiConsole,
      input: Uint8Array.from(this.input),
    };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion("sbi", version, [1]);
    const t = stateNumber(s, "sbi", "timerDeadline");
    this.timerDeadline = t >= 0 ? t : Number.POSITIVE_INFINITY;
    this.sbiConsole = stateBool(s, "sbi", "sbiConsole");
    this.input = Array.from(stateBytes(s, "sbi", "input"));
  }
}
