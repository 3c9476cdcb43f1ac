import { fail, SbiError, type SbiExtension } from "./types.js";

const SHUTDOWN = 0;
const COLD_REBOOT = 1;
const WARM_REBOOT = 2;
const REASON_SYSTEM_FAILURE = 1;

/** System Reset extension (EID "SRST", SBI spec §10). A successful call does not return to the guest. */
export const srstExtension: SbiExtension = {
  eid: 0x53525354,
  name: "SRST",
  call(host, { fid, args }) {
    if (fid !== 0) return fail(SbiError.NOT_SUPPORTED);
    const type = args[0]! >>> 0;
    const reason = args[1]! >>> 0;
    if (reason > 1 && reason < 0xe0000000) return fail(SbiError.INVALID_PARAM);
    if (type === SHUTDOWN) host.systemReset("shutdown", reason === REASON_SYSTEM_FAILURE ? 1 : 0);
    else if (type === COLD_REBOOT || type === WARM_REBOOT) host.systemReset("reboot", 0);
    else return fail(SbiError.INVALID_PARAM);
    return { error: SbiError.SUCCESS, value: 0 };
  },
};
