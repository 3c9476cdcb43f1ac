import { forwardingScenarios } from "./forwarding.js";
import { gatewayScenarios } from "./gateway-path.js";
import type { Result } from "./result.js";

/** `pnpm --filter @skiff/net bench [-- --json]`: one line (or JSON object) per scenario. */
const json = process.argv.includes("--json");
const log = (line: string) => console.error(line);

function print(r: Result): void {
  if (json) {
    console.log(JSON.stringify(r));
    return;
  }
  const rtt = r.rttP50Ms === undefined ? "" : `  RTT p50 ${r.rttP50Ms} ms, p99 ${r.rttP99Ms} ms`;
  const rate = r.rttP50Ms === undefined ? `${r.framesPerSecond} frames/s  ${r.mbps} Mbit/s  ` : "";
  console.log(`${r.name.padEnd(48)} ${rate}(${r.frames} frames, ${r.lost} lost)${rtt}`);
}

for (const r of await forwardingScenarios()) print(r);
for (const r of await gatewayScenarios(log)) print(r);
