import { describe, expect, it } from "vitest";
import { couldEverFit, type NodeLoad, type PlacementRequest, place } from "./placement.js";

const GiB = 2 ** 30;

function node(
  name: string,
  over: Partial<NodeLoad> = {},
  reserved: Partial<NodeLoad["reserved"]> = {},
): NodeLoad {
  return {
    id: `id-${name}`,
    name,
    status: "ready",
    maintenance: false,
    cpus: 4,
    memoryBytes: 8 * GiB,
    diskBytes: 100 * GiB,
    groupMembers: 0,
    ...over,
    reserved: { vpsCount: 0, vcpus: 0, cpuShare: 0, memoryBytes: 0, diskBytes: 0, ...reserved },
  };
}

const small: PlacementRequest = { vcpus: 1, memoryBytes: GiB, diskBytes: 10 * GiB, cpuShare: 100 };

describe("placement filters", () => {
  it("skips unhealthy, drained and full nodes, and says why", () => {
    const d = place(
      [
        node("a", { status: "unreachable" }),
        node("b", { maintenance: true }),
        node("c", {}, { memoryBytes: 7.5 * GiB }),
        node("d", {}, { diskBytes: 95 * GiB }),
        node("e", {}, { cpuShare: 1550 }),
        node("f", { cpus: 1 }),
      ],
      { ...small, vcpus: 2 },
    );
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.rejected).toEqual({
      a: "node is unreachable",
      b: "node is in maintenance",
      c: "not enough free memory",
      d: "not enough free disk",
      e: "not enough free CPU share",
      f: "needs 2 vCPUs, node has 1 CPUs",
    });
    expect(d.summary).toMatch(/^no node can take it now/);
  });

  it("honours a pinned node and excluded nodes", () => {
    const nodes = [node("a"), node("b"), node("c")];
    expect(place(nodes, { ...small, nodeId: "id-c" })).toMatchObject({ ok: true, nodeId: "id-c" });
    expect(place(nodes, { ...small, excludeNodeIds: ["id-a", "id-b"] })).toMatchObject({
      ok: true,
      nodeId: "id-c",
    });
  });

  it("keeps strict anti-affinity groups apart and strict affinity groups together", () => {
    const nodes = [
      node("a", { groupMembers: 1 }),
      node("b", {}, { memoryBytes: 6 * GiB }),
      node("c", { groupMembers: 2 }),
    ];
    const anti = place(nodes, {
      ...small,
      group: { policy: "anti_affinity", strict: true, placedMembers: 3 },
    });
    expect(anti).toMatchObject({ ok: true, nodeId: "id-b" });
    const full = place([node("a", { groupMembers: 1 })], {
      ...small,
      group: { policy: "anti_affinity", strict: true, placedMembers: 1 },
    });
    expect(full.ok).toBe(false);
    const aff = place(nodes, { ...small, group: { policy: "affinity", strict: true, placedMembers: 3 } });
    expect(aff.ok && ["id-a", "id-c"].includes(aff.nodeId)).toBe(true);
    // The first member of an affinity group may go anywhere.
    expect(
      place([node("z")], { ...small, group: { policy: "affinity", strict: true, placedMembers: 0 } }).ok,
    ).toBe(true);
  });

  it("couldEverFit looks at built capacity only", () => {
    expect(
      couldEverFit(node("a", {}, { memoryBytes: 8 * GiB }), small, { mode: "spread", cpuOvercommit: 4 }),
    ).toBe(true);
    expect(
      couldEverFit(node("a"), { ...small, memoryBytes: 9 * GiB }, { mode: "spread", cpuOvercommit: 4 }),
    ).toBe(false);
  });
});

describe("placement weighers", () => {
  const nodes = [
    node("a", {}, { memoryBytes: 6 * GiB, cpuShare: 300 }),
    node("b", {}, { memoryBytes: 2 * GiB }),
    node("c"),
  ];

  it("spread picks the emptiest node, pack the fullest that fits", () => {
    expect(place(nodes, small, { mode: "spread", cpuOvercommit: 4 })).toMatchObject({ nodeId: "id-c" });
    expect(place(nodes, small, { mode: "pack", cpuOvercommit: 4 })).toMatchObject({ nodeId: "id-a" });
  });

  it("soft anti-affinity outweighs load, soft affinity attracts", () => {
    const withGroup = [
      node("a", { groupMembers: 0 }, { memoryBytes: 6 * GiB }),
      node("c", { groupMembers: 1 }),
    ];
    expect(
      place(withGroup, { ...small, group: { policy: "anti_affinity", strict: false, placedMembers: 1 } }),
    ).toMatchObject({
      nodeId: "id-a",
    });
    expect(
      place([node("a"), node("c", { groupMembers: 1 }, { memoryBytes: 6 * GiB })], {
        ...small,
        group: { policy: "affinity", strict: false, placedMembers: 1 },
      }),
    ).toMatchObject({ nodeId: "id-c" });
  });

  it("breaks ties by name, so equal clusters place deterministically", () => {
    expect(place([node("b"), node("a"), node("c")], small)).toMatchObject({ nodeId: "id-a" });
  });

  it("spreads a stream of placements evenly when reservations are applied", () => {
    const loads = [node("a"), node("b"), node("c")].map((n) => ({ ...n, reserved: { ...n.reserved } }));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      const d = place(loads, small);
      if (!d.ok) throw new Error(d.summary);
      const n = loads.find((l) => l.id === d.nodeId)!;
      (n as { reserved: NodeLoad["reserved"] }).reserved = {
        ...n.reserved,
        vpsCount: n.reserved.vpsCount + 1,
        memoryBytes: n.reserved.memoryBytes + small.memoryBytes,
        cpuShare: n.reserved.cpuShare + small.cpuShare,
      };
      counts[n.name] = (counts[n.name] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 4, b: 4, c: 4 });
  });
});
