import { fail, ok, SbiError, type SbiExtension } from "./types.js";

/** Spec v1.0: BASE, TIME, IPI, RFENCE, HSM, SRST (Linux probes them once it sees >= 0.2). */
export const SBI_SPEC_VERSION = 1 << 24;
/** Not in the registered implementation-id list; "Sk" in ASCII. */
export const SBI_IMPL_ID = 0x536b;
export const SBI_IMPL_VERSION = 1;

/** BASE extension (EID 0x10, SBI spec §4). */
export function baseExtension(isSupported: (eid: number) => boolean): SbiExtension {
  return {
    eid: 0x10,
    name: "BASE",
    call(host, { fid, args }) {
      switch (fid) {
        case 0:
          return ok(SBI_SPEC_VERSION);
        case 1:
          return ok(SBI_IMPL_ID);
        case 2:
          return ok(SBI_IMPL_VERSION);
        case 3:
          return ok(isSupported(args[0]!) ? 1 : 0);
        case 4:
          return ok(host.mvendorid);
        case 5:
          return ok(host.marchid);
        case 6:
          return ok(host.mimpid);
        default:
          return fail(SbiError.NOT_SUPPORTED);
      }
    },
  };
}
