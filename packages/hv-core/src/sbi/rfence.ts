import { targetedHarts } from "./harts.js";
import { fail, ok, SbiError, type SbiExtension } from "./types.js";

/** RFENCE extension (EID "RFNC", SBI spec §8). FIDs 3–6 are hypervisor fences: no H extension here. */
export const rfenceExtension: SbiExtension = {
  eid: 0x52464e43,
  name: "RFENCE",
  call(host, { fid, args }) {
    if (fid > 2) return fail(SbiError.NOT_SUPPORTED);
    const { harts, invalid } = targetedHarts(args[0]!, args[1]!, 1);
    if (invalid) return fail(SbiError.INVALID_PARAM);
    // remote_fence_i needs nothing (no instruction cache); sfence.vma variants flush the whole TLB.
    if (fid > 0 && harts.includes(host.hartId)) host.flushTlb();
    return ok();
  },
};
