import { describe, expect, it } from "vitest";
import {
  mbps,
  type NetworkFigure,
  netstatCounter,
  parseTimedRead,
  pingRtts,
  quantile,
  ratios,
  rttFigures,
  SCENARIOS,
  StallMeter,
  targets,
  worstHop,
} from "./figures.js";

const figure = (f: Partial<NetworkFigure> & Pick<NetworkFigure, "name" | "machine">): NetworkFigure => ({
  mbps: null,
  rttP50Ms: null,
  rttP99Ms: null,
  load1: 1,
  ...f,
});

describe("network bench figures", () => {
  it("takes quantiles by nearest rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
    expect(rttFigures([])).toEqual({ rttP50Ms: null, rttP99Ms: null });
  });

  it("reads one counter of /proc/net/netstat", () => {
    const netstat = [
      "TcpExt: SyncookiesSent TCPTimeouts TCPLossProbes",
      "TcpExt: 0 3 7",
      "IpExt: InNoRoutes TCPTimeouts",
      "IpExt: 1 9",
    ].join("\n");
    expect(netstatCounter(netstat, "TcpExt", "TCPTimeouts")).toBe(3);
    expect(netstatCounter(netstat, "IpExt", "TCPTimeouts")).toBe(9);
    expect(netstatCounter(netstat, "TcpExt", "Nothing")).toBeNaN();
  });

  it("reads round trips from iputils' and BusyBox's ping", () => {
    const iputils = "64 bytes from 10.78.0.10: icmp_seq=1 ttl=64 time=0.512 ms\n";
    const busybox = "64 bytes from 10.78.0.11: seq=0 ttl=64 time=3.104 ms\n--- 1 packets transmitted";
    expect(pingRtts(iputils + busybox)).toEqual([0.512, 3.104]);
  });

  it("reads a guest-timed read: records out between two /proc/uptime lines", () => {
    const console = [
      'skiff# ash -c "cat /proc/uptime; nc 10.78.0.11 5001 | dd of=/dev/null bs=64k count=67; cat /proc/uptime"',
      "10.34 3.54",
      "67+0 records in",
      "67+0 records out",
      "12.84 4.46",
      "skiff# ",
    ].join("\r\n");
    expect(parseTimedRead(console)).toEqual({ bytes: 67 * 65536, seconds: expect.closeTo(2.5, 9) });
    // Not finished yet: no second uptime.
    expect(parseTimedRead(console.slice(0, console.indexOf("67+0 records out")))).toBeUndefined();
    expect(mbps(67 * 65536, 2.5)).toBe(14.05);
  });

  it("measures the longest gap between arrivals, from the last reset on", () => {
    const meter = new StallMeter();
    for (const t of [0, 10, 20, 250, 260]) meter.arrived(t);
    expect(meter.takeLongest()).toBe(230);
    meter.arrived(300);
    expect(meter.takeLongest()).toBe(40); // measured from the last arrival before the reset
  });

  it("picks the hop whose stall exceeded its downtime the most", () => {
    const hops = [
      { downtimeMs: 300, stallMs: 380 },
      { downtimeMs: 50, stallMs: 260 },
      { downtimeMs: 400, stallMs: 420 },
    ];
    expect(worstHop(hops)).toEqual({ downtimeMs: 50, stallMs: 260 });
    expect(worstHop([])).toBeUndefined();
  });

  it("prints ratios for scenarios both machines ran, and checks the issue's targets", () => {
    const figures = [
      figure({ name: SCENARIOS.hostToGuest, machine: "skiff", mbps: 120, rttP50Ms: 0.8, rttP99Ms: 2 }),
      figure({ name: SCENARIOS.hostToGuest, machine: "qemu", mbps: 240, rttP50Ms: 0.4, rttP99Ms: 1 }),
      figure({ name: SCENARIOS.twoNodes, machine: "skiff", mbps: 40 }),
      figure({ name: SCENARIOS.migration, machine: "skiff", maxStallMs: 260, downtimeMs: 50, resets: 0 }),
    ];
    expect(ratios(figures)).toEqual([
      `${SCENARIOS.hostToGuest}: throughput 0.50× QEMU's, RTT p50 2.00×, p99 2.00×`,
    ]);
    expect(targets(figures)).toEqual([
      "met: host→guest ≥ 100 Mbit/s (120)",
      "MISSED: guest↔guest across nodes ≥ 100 Mbit/s (40)",
      "met: RTT p50 host→guest ≤ 1 ms (0.8)",
      "MISSED: longest stall ≤ downtime + 100 ms (260 ≤ 50 + 100)",
      "met: 0 resets (0)",
    ]);
    expect(targets([])[0]).toBe("not measured: host→guest ≥ 100 Mbit/s (-)");
  });
});
