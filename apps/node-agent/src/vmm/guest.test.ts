import { describe, expect, it } from "vitest";
import type { VmSpecRecord } from "../vm/record.js";
import { kernelArgsOf } from "./guest.js";

const base: VmSpecRecord = {
  memoryBytes: 64 << 20,
  vcpus: 1,
  bootMode: "linux",
  kernelPath: "/k",
  initrdPath: "",
  diskPath: "",
  diskBytes: 0,
  kernelArgs: "console=ttyS0",
  cpuMillis: 0,
  vmmOverheadMib: 192,
  labels: {},
};
const nic = { mac: "52:54:00:00:00:01", ipv4: "10.1.0.10", networkId: "net1" };

describe("the guest's kernel arguments", () => {
  it("add ip=dhcp for a Linux guest with a NIC, keeping the caller's", () => {
    expect(kernelArgsOf({ ...base, nics: [nic] })).toBe("console=ttyS0 ip=dhcp");
    expect(kernelArgsOf({ ...base, kernelArgs: "", nics: [nic] })).toBe("ip=dhcp");
  });

  it("stay as given without a NIC, for firmware, or when they configure ip= themselves", () => {
    expect(kernelArgsOf(base)).toBe("console=ttyS0");
    expect(kernelArgsOf({ ...base, nics: [] })).toBe("console=ttyS0");
    expect(kernelArgsOf({ ...base, bootMode: "firmware", nics: [nic] })).toBe("console=ttyS0");
    expect(kernelArgsOf({ ...base, kernelArgs: "ip=10.1.0.10::10.1.0.1", nics: [nic] })).toBe(
      "ip=10.1.0.10::10.1.0.1",
    );
  });
});
