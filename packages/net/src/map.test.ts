import { describe, expect, it } from "vitest";
import { port, testMap } from "./fixtures.test-helpers.js";
import { MapState } from "./map.js";

describe("MapState", () => {
  it("indexes networks, ports and nodes", () => {
    const state = new MapState();
    expect(state.replace(testMap({ nodes: [{ id: "n1", host: "127.0.0.1", port: 4789 }] }))).toBe(true);
    expect(state.networksByVni.get(101)?.spec.id).toBe("net1");
    expect(state.ports.get("b")?.network.spec.id).toBe("net1");
    expect(state.nodesByEndpoint.get("127.0.0.1:4789")).toBe("n1");
  });

  it("refuses an invalid map with a code and keeps the old one", () => {
    const state = new MapState();
    state.replace(testMap());
    const bad = [
      testMap({ version: 2, ports: [port("x", "02:00:00:00:00:0a", "10.9.0.1", "net1", "n1")] }),
      testMap({ version: 2, ports: [port("x", "02:00:00:00:00:0a", "10.1.0.1", "net1", "n1")] }),
      testMap({ version: 2, ports: [port("x", "zz", "10.1.0.5", "net1", "n1")] }),
      testMap({ version: 2, ports: [port("x", "02:00:00:00:00:0a", "10.1.0.5", "nope", "n1")] }),
      testMap({
        version: 2,
        ports: [
          port("x", "02:00:00:00:00:0a", "10.1.0.5", "net1", "n1"),
          port("y", "02:00:00:00:00:0b", "10.1.0.5", "net1", "n1"),
        ],
      }),
    ];
    const codes = bad.map((map) => {
      try {
        state.replace(map);
        return "accepted";
      } catch (err) {
        return (err as { code?: string }).code;
      }
    });
    expect(codes).toEqual([
      "NET_BAD_PORT_ADDRESS",
      "NET_BAD_PORT_ADDRESS",
      "NET_BAD_MAC",
      "NET_UNKNOWN_NETWORK",
      "NET_ADDRESS_IN_USE",
    ]);
    expect(state.version).toBe(1);
    expect(state.ports.size).toBe(4);
  });

  it("refuses a VNI out of 24 bits and duplicate networks", () => {
    const base = testMap();
    const state = new MapState();
    const outOfRange = { ...base, networks: [{ ...base.networks[0], vni: 1 << 24 }], ports: [] };
    expect(() => state.replace(outOfRange)).toThrow(expect.objectContaining({ code: "NET_BAD_VNI" }));
    const twice = { ...base, networks: [base.networks[0], { ...base.networks[1], vni: 101 }], ports: [] };
    expect(() => state.replace(twice)).toThrow(expect.objectContaining({ code: "NET_DUPLICATE_NETWORK" }));
  });

  it("applies updates in version order only", () => {
    const state = new MapState();
    state.replace(testMap());
    expect(
      state.apply({
        version: 3,
        kind: "setPort",
        port: port("e", "02:00:00:00:00:0e", "10.1.0.14", "net1", "n2"),
      }),
    ).toBe(true);
    expect(state.apply({ version: 2, kind: "removePort", vpsId: "e" })).toBe(false);
    expect(state.ports.has("e")).toBe(true);
    expect(state.apply({ version: 4, kind: "setNode", node: { id: "n2", host: "127.0.0.1", port: 9 } })).toBe(
      true,
    );
    expect(state.apply({ version: 5, kind: "removeNode", nodeId: "n2" })).toBe(true);
    expect(state.nodesByEndpoint.size).toBe(0);
    expect(() => state.apply({ version: 6, kind: "movePort", vpsId: "zz", node: "n1" })).toThrow(
      expect.objectContaining({ code: "NET_UNKNOWN_PORT" }),
    );
  });
});
