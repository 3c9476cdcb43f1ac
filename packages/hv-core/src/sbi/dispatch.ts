import { baseExtension } from "./base.js";
import { hsmExtension } from "./hsm.js";
import { ipiExtension } from "./ipi.js";
import { legacyExtensions } from "./legacy.js";
import { rfenceExtension } from "./rfence.js";
import { srstExtension } from "./srst.js";
import { timeExtension } from "./time.js";
import { SbiError, type SbiExtension, type SbiHost } from "./types.js";

const A0 = 10;
const A1 = 11;
const A6 = 16;
const A7 = 17;

/** The SBI implementation: a table of extensions by EID (adding one is adding a file and a row). */
export class SbiDispatcher {
  private readonly table = new Map<number, SbiExtension>();

  constructor(extensions: SbiExtension[] = defaultExtensions()) {
    for (const ext of extensions) this.table.set(ext.eid, ext);
    if (!this.table.has(0x10))
      this.table.set(
        0x10,
        baseExtension((eid) => this.table.has(eid)),
      );
  }

  supports(eid: number): boolean {
    return this.table.has(eid >>> 0);
  }

  /**
   * Answers the ecall whose arguments are in `x` (a7 = EID, a6 = FID, a0..a5), writing the result
   * to a0 (and a1 for v0.2+ calls). The caller advances pc past the ecall.
   */
  handle(host: SbiHost, x: Int32Array): void {
    const eid = x[A7]! >>> 0;
    const ext = this.table.get(eid);
    if (!ext) {
      x[A0] = SbiError.NOT_SUPPORTED;
      // v0.1 EIDs not implemented also report -2 in a0; a1 is left as is for them.
      if (eid > 0x0f) x[A1] = 0;
      return;
    }
    const args = [x[10]! >>> 0, x[11]! >>> 0, x[12]! >>> 0, x[13]! >>> 0, x[14]! >>> 0, x[15]! >>> 0];
    const result = ext.call(host, { fid: x[A6]! >>> 0, args });
    if ("legacy" in result) {
      x[A0] = result.legacy;
    } else {
      x[A0] = result.error;
      x[A1] = result.value;
    }
  }
}

export function defaultExtensions(): SbiExtension[] {
  return [timeExtension, ipiExtension, rfenceExtension, hsmExtension, srstExtension, ...legacyExtensions];
}
