import { targetedHarts } from "./harts.js";
import { fail, ok, SbiError, type SbiExtension } from "./types.js";

/** IPI extension (EID "sPI", SBI spec §7): on one hart, an IPI to self sets SSIP. */
export const ipiExtension: SbiExtension = {
  eid: 0x735049,
  name: "IPI",
  call(host, { fid, args }) {
    if (fid !== 0) return fail(SbiError.NOT_SUPPORTED);
    const { harts, invalid } = targetedHarts(args[0]!, args[1]!, 1);
    if (invalid) return fail(SbiError.INVALID_PARAM);
    if (harts.includes(host.hartId)) host.setSoftwareInterrupt(true);
    return ok();
  },
};
