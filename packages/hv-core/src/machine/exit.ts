/** Why Machine.run() returned. */
export type ExitReason =
  | { kind: "budget" }
  /** WFI with nothing pending: sleep until then (Infinity: until input) and run again. */
  | { kind: "idle"; wakeInMs: number }
  | { kind: "poweroff"; code: number }
  | { kind: "reboot" }
  /** Firmware mode: the guest wrote tohost (0 = pass, else the failing test number). */
  | { kind: "htif"; code: number }
  /** The guest wedged itself (e.g. a trap nobody handles); the host is fine. */
  | { kind: "fatal"; message: string };
