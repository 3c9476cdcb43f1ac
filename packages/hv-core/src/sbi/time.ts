import { fail, ok, SbiError, type SbiExtension, timeArg } from "./types.js";

/** TIME extension (EID "TIME", SBI spec §6): one-shot supervisor timer. */
export const timeExtension: SbiExtension = {
  eid: 0x54494d45,
  name: "TIME",
  call(host, { fid, args }) {
    if (fid !== 0) return fail(SbiError.NOT_SUPPORTED);
    host.setTimer(timeArg(args[0]!, args[1]!));
    return ok();
  },
};
