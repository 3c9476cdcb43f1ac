import { fail, ok, SbiError, type SbiExtension } from "./types.js";

/** HSM hart states (SBI spec §9.1) for the single hart 0. */
export const HartState = { STARTED: 0, STOPPED: 1, START_PENDING: 2, STOP_PENDING: 3, SUSPENDED: 4 } as const;

const SUSPEND_DEFAULT_RETENTIVE = 0;
const SUSPEND_DEFAULT_NON_RETENTIVE = 0x80000000;

/** HSM extension (EID "HSM", SBI spec §9). One hart, always started while it can make this call. */
export const hsmExtension: SbiExtension = {
  eid: 0x48534d,
  name: "HSM",
  call(host, { fid, args }) {
    const hartValid = (id: number) => id >>> 0 === host.hartId;
    switch (fid) {
      case 0: // hart_start
        return fail(hartValid(args[0]!) ? SbiError.ALREADY_AVAILABLE : SbiError.INVALID_PARAM);
      case 1: // hart_stop
        host.hartStopped();
        return ok();
      case 2: // hart_get_status
        return hartValid(args[0]!) ? ok(HartState.STARTED) : fail(SbiError.INVALID_PARAM);
      case 3: {
        // hart_suspend
        const type = args[0]! >>> 0;
        if (type === SUSPEND_DEFAULT_RETENTIVE) {
          host.hartSuspend();
          return ok();
        }
        if (type === SUSPEND_DEFAULT_NON_RETENTIVE) return fail(SbiError.NOT_SUPPORTED);
        return fail(SbiError.INVALID_PARAM);
      }
      default:
        return fail(SbiError.NOT_SUPPORTED);
    }
  },
};
