import { createLogger } from "@skiff/common";
import type { NetworkMap as NetworkMapMsg } from "@skiff/proto";
import { afterEach, describe, expect, it } from "vitest";
import { networkMapFromProto } from "./map-from-proto.js";
import { NodeNetwork } from "./node-network.js";

const log = createLogger("test", "silent");

function mapMsg(version: number, node = "n2"): NetworkMapMsg {
  return {
    version,
    networks: [
      {
        id: "net1",
        vni: 101,
        cidr: "10.1.0.0/24",
        gatewayIpv4: "10.1.0.1",
        gatewayMac: "02:00:00:01:00:01",
        mtu: 0,
        dns: ["10.1.0.53"],
      },
    ],
    ports: [
      {
        vpsId: "vps-a",
        mac: "52:54:00:00:00:0a",
        ipv4: "10.1.0.10",
        networkId: "net1",
        node,
        hostname: "a",
      },
    ],
    nodes: [{ id: "n1", host: "127.0.0.1", port: 4789 }],
    gatewayNode: "",
  };
}

let network: NodeNetwork | undefined;
afterEach(async () => {
  await network?.close();
  network = undefined;
});

describe("the node's network", () => {
  it("reads the proto map: absent MTU and gateway node stay absent", () => {
    const map = networkMapFromProto(mapMsg(3));
    expect(map.networks[0]).toEqual({
      id: "net1",
      vni: 101,
      cidr: "10.1.0.0/24",
      gateway: { ipv4: "10.1.0.1", mac: "02:00:00:01:00:01" },
      dns: ["10.1.0.53"],
    });
    expect(map.gatewayNode).toBeUndefined();
    expect(() => networkMapFromProto(undefined)).toThrow(
      expect.objectContaining({ code: "NETWORK_MAP_INVALID" }),
    );
  });

  it("takes newer maps only, refuses an invalid one with a code, claims a port without a version", async () => {
    network = await NodeNetwork.start({
      nodeId: "n1",
      bindHost: "127.0.0.1",
      advertiseHost: "127.0.0.1",
      overlayPort: 0,
      log,
    });
    expect(network.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(network.version).toBe(-1);
    expect(network.apply(networkMapFromProto(mapMsg(2)))).toBe(2);
    expect(network.apply(networkMapFromProto(mapMsg(1, "n1")))).toBe(2); // stale: ignored
    const bad = mapMsg(5);
    bad.ports[0] = { ...bad.ports[0]!, ipv4: "10.9.0.10" };
    expect(() => network?.apply(networkMapFromProto(bad))).toThrow(
      expect.objectContaining({ code: "NETWORK_MAP_INVALID" }),
    );
    expect(network.version).toBe(2);
    // At a migration's commit the port comes here; the control plane's version 3 still applies.
    expect(network.claim("vps-a")).toBe(true);
    expect(network.claim("nobody")).toBe(false);
    expect(network.version).toBe(2);
    expect(network.apply(networkMapFromProto(mapMsg(3)))).toBe(3);
  });
});
