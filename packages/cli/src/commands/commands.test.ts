import { describe, expect, it } from "vitest";
import type {
  BalancerPlan,
  BalancerView,
  DrainProgress,
  Migration,
  NodeInfo,
  SkiffEvent,
  Vps,
} from "../types.js";
import { renderBalancerView, renderDryRun, settingsPatch } from "./balancer.js";
import { closeError, consoleUrl, ESCAPE_BYTE, splitAtEscape } from "./console.js";
import { EventFollower, eventLine, sinceToIso } from "./events.js";
import { describeMigration, migrationTable } from "./migrations.js";
import { networkTable } from "./networks.js";
import { drainLine, nodeTable } from "./nodes.js";
import { migrationStartedLine, vpsStatusLine, vpsTable } from "./vps.js";

const vps: Vps = {
  id: "11111111-2222-3333-4444-555555555555",
  projectId: "p",
  name: "web-1",
  state: "stopping",
  stateReason: null,
  action: "stop",
  planId: "pl",
  imageId: "im",
  nodeId: "aaaaaaaa-0000-0000-0000-000000000000",
  placementGroupId: null,
  epoch: 1,
  vcpus: 1,
  memoryBytes: 64 * 2 ** 20,
  diskBytes: 2 ** 30,
  cpuShare: 100,
  ipv4: "10.200.0.2",
  mac: "52:54:00:12:34:56",
  networkId: "bbbbbbbb-0000-0000-0000-000000000000",
  sshKeys: [],
  createdAt: new Date(Date.now() - 120_000).toISOString(),
  updatedAt: new Date().toISOString(),
};

describe("networks output", () => {
  it("shows each network's CIDR, gateway and VNI", () => {
    const out = networkTable([
      {
        id: "cccccccc-0000-0000-0000-000000000000",
        projectId: "p",
        name: "default",
        vni: 7,
        cidr: "10.200.6.0/24",
        gateway: { ipv4: "10.200.6.1", mac: "52:54:01:00:00:07" },
        mtu: 1450,
        createdAt: new Date(Date.now() - 60_000).toISOString(),
      },
    ]);
    expect(out.split("\n")[0]).toMatch(/^ID\s+NAME\s+CIDR\s+GATEWAY\s+VNI\s+PROJECT\s+AGE$/);
    expect(out.split("\n")[1]).toMatch(/default\s+10\.200\.6\.0\/24\s+10\.200\.6\.1\s+7\s+p\s+1m$/);
  });
});

describe("vps output", () => {
  it("shows node names when known, short ids otherwise", () => {
    const named = vpsTable([vps], new Map([[vps.nodeId!, "node-1"]]));
    expect(named.split("\n")[0]).toMatch(
      /^ID\s+NAME\s+STATE\s+NODE\s+ADDRESS\s+VCPUS\s+MEMORY\s+DISK\s+AGE$/,
    );
    expect(named.split("\n")[1]).toMatch(
      /web-1\s+stopping\s+node-1\s+10\.200\.0\.2\s+1\s+64 MiB\s+1 GiB\s+2m$/,
    );
    // Not placed yet: no address.
    expect(vpsTable([{ ...vps, ipv4: null }], new Map()).split("\n")[1]).toMatch(/aaaaaaaa\S*\s+-\s+1\s/);
    expect(vpsTable([vps], new Map())).toContain("aaaaaaaa");
  });

  it("marks an action in flight on a steady state", () => {
    const pausing: Vps = { ...vps, state: "running", action: "pause" };
    expect(vpsTable([pausing], new Map())).toContain("running (pause)");
    expect(vpsStatusLine(vps)).toBe("web-1  stopping  (stop in progress)\n");
    expect(vpsStatusLine({ ...vps, state: "error", action: null, stateReason: "no node fits" })).toBe(
      "web-1  error: no node fits\n",
    );
  });
});

describe("nodes output", () => {
  it("shows maintenance beside the status and reservations against capacity", () => {
    const n: NodeInfo = {
      id: "n",
      name: "node-1",
      grpcAddress: "127.0.0.1:5001",
      status: "ready",
      maintenance: true,
      labels: {},
      storage: { backend: "local", id: "" },
      agentVersion: "0.1.0",
      overlayEndpoint: "127.0.0.1:4789",
      networkMapVersion: 3,
      capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30, diskBytes: 0 },
      reserved: { vpsCount: 3, vcpus: 3, cpuShare: 300, memoryBytes: 3 * 2 ** 30, diskBytes: 0 },
      usage: { cpuPercent: 12.4, memoryUsedBytes: 0, vmCount: 3 },
      lastHeartbeatAt: new Date(Date.now() - 1000).toISOString(),
      registeredAt: new Date().toISOString(),
    };
    const row = nodeTable([n]).split("\n")[1]!;
    expect(row).toMatch(
      /node-1\s+ready,maintenance\s+127\.0\.0\.1:5001\s+3\s+3\/4\s+3 GiB\/8 GiB\s+12\s+1s$/,
    );
  });

  it("sorts by name, marks and explains overcommit, and says when CPU% is one host's", () => {
    const base = {
      grpcAddress: "127.0.0.1:5001",
      status: "ready",
      maintenance: false,
      labels: {},
      storage: { backend: "local", id: "" },
      agentVersion: "0.1.0",
      overlayEndpoint: "",
      networkMapVersion: 0,
      capacity: { cpus: 2, memoryBytes: 2 ** 30, diskBytes: 0 },
      reserved: { vpsCount: 1, vcpus: 1, cpuShare: 100, memoryBytes: 0, diskBytes: 0 },
      usage: { cpuPercent: 40, memoryUsedBytes: 0, vmCount: 1 },
      lastHeartbeatAt: null,
      registeredAt: new Date().toISOString(),
    } as const;
    const node = (name: string, vcpus: number) =>
      ({ ...base, id: name, name, reserved: { ...base.reserved, vcpus } }) as unknown as NodeInfo;
    const out = nodeTable([node("node-10", 1), node("node-2", 4), node("node-1", 1)]);
    const names = out
      .split("\n")
      .slice(1, 4)
      .map((l) => l.split(/\s+/)[1]);
    expect(names).toEqual(["node-1", "node-2", "node-10"]);
    expect(out).toMatch(/HOST CPU%/);
    expect(out).toMatch(/node-2 .* 4\/2\* /);
    expect(out).toContain("* more vCPUs reserved than cores (overcommit)");
    expect(out).toContain("All nodes run on one host (127.0.0.1)");
    const elsewhere = nodeTable([node("a", 1), { ...node("b", 1), grpcAddress: "10.0.0.2:5001" }]);
    expect(elsewhere).not.toContain("one host");
    expect(elsewhere).not.toContain("overcommit");
  });
});

describe("events", () => {
  it("--follow prints an event that committed after later ones, and nothing twice", () => {
    const t0 = Date.parse("2026-12-02T10:00:00Z");
    const ev = (id: number, s: number) =>
      ({ id: String(id), at: new Date(t0 + s * 1000).toISOString() }) as SkiffEvent;
    const f = new EventFollower(t0, 10_000);
    // Poll 1 sees 1 and 3; event 2's transaction has not committed yet.
    expect(f.take([ev(1, 1), ev(3, 2)]).map((e) => e.id)).toEqual(["1", "3"]);
    expect(f.from).toBe(t0);
    // Poll 2 re-reads the window: 2 has appeared, 4 is new; 1 and 3 are not printed again.
    expect(f.take([ev(1, 1), ev(2, 1), ev(3, 2), ev(4, 30)]).map((e) => e.id)).toEqual(["2", "4"]);
    // The window trails the newest event; ids before it are forgotten, never read again.
    expect(f.from).toBe(t0 + 20_000);
    f.prune();
    expect(f.take([ev(4, 30), ev(5, 31)]).map((e) => e.id)).toEqual(["5"]);
  });

  it("prints one line per event with its state change", () => {
    const e: SkiffEvent = {
      id: "7",
      at: "2025-01-02T03:04:05.678Z",
      projectId: null,
      actorType: "user",
      actorId: null,
      resourceType: "vps",
      resourceId: vps.id,
      type: "vps.state",
      fromState: "running",
      toState: "stopping",
      message: "stop requested",
      details: {},
    };
    expect(eventLine(e)).toBe(
      "2025-01-02T03:04:05.678Z  vps/11111111  vps.state  running → stopping  stop requested\n",
    );
    expect(eventLine(e, new Map([[vps.id, "web-1"]]))).toBe(
      "2025-01-02T03:04:05.678Z  vps/web-1  vps.state  running → stopping  stop requested\n",
    );
  });

  it("reads --since as a time or a duration back from now", () => {
    const now = Date.parse("2025-01-02T00:00:00Z");
    expect(sinceToIso("10m", now)).toBe("2025-01-01T23:50:00.000Z");
    expect(sinceToIso("2025-01-01T12:00:00+01:00", now)).toBe("2025-01-01T11:00:00.000Z");
    expect(() => sinceToIso("yesterday", now)).toThrow("--since");
  });
});

describe("console", () => {
  it("quits at Ctrl-] and sends what was typed before it", () => {
    const r = splitAtEscape(Buffer.from([0x6c, 0x73, ESCAPE_BYTE, 0x0d]));
    expect(r).toEqual({ send: Buffer.from("ls"), quit: true });
    expect(splitAtEscape(Buffer.from("ls\r"))).toEqual({ send: Buffer.from("ls\r"), quit: false });
  });

  it("turns the API's close codes into coded errors", () => {
    expect(closeError(1000, "console ended")).toBeUndefined();
    expect(closeError(4404, "VPS_NOT_FOUND")).toMatchObject({ code: "VPS_NOT_FOUND", status: 404 });
    expect(closeError(4409, "INVALID_STATE: the VPS is stopped")).toMatchObject({
      code: "INVALID_STATE",
      message: "the VPS is stopped",
    });
    expect(closeError(4502, "STALE_EPOCH: epoch 1 < 2")).toMatchObject({ code: "STALE_EPOCH" });
    expect(closeError(1006, "")).toMatchObject({ code: "CONSOLE_CLOSED" });
  });

  it("speaks ws:// to http:// APIs and wss:// to https:// ones", () => {
    expect(consoleUrl("http://127.0.0.1:8080/v1/vps/x/console")).toBe("ws://127.0.0.1:8080/v1/vps/x/console");
    expect(consoleUrl("https://cloud.example/v1/vps/x/console")).toBe("wss://cloud.example/v1/vps/x/console");
  });
});

describe("balancer output", () => {
  const settings: BalancerView["settings"] = {
    enabled: true,
    mode: "spread",
    threshold: 0.1,
    minImprovement: 0.01,
    hysteresis: 0.5,
    cooldownSeconds: 300,
    maxMovesPerRound: 2,
    maxConcurrent: 4,
    maxConcurrentPerNode: 2,
    packMaxUtilization: 0.9,
  };

  it("shows the score and one row per node, deviations signed", () => {
    const out = renderBalancerView({
      settings,
      state: { balancing: true, lastRunAt: "2026-01-01T00:00:00.000Z", lastScore: 0.31 },
      score: {
        mode: "spread",
        current: 0.3123,
        spread: 0.3123,
        pack: 0.6,
        penalty: 0,
        threshold: 0.1,
        floor: 0.05,
      },
      nodes: [
        {
          nodeId: "a",
          name: "node-1",
          status: "ready",
          maintenance: false,
          active: true,
          vpsCount: 30,
          cpu: 0.81,
          memory: 0.5,
          dirtyPagesPerSec: 256,
          deviation: 0.42,
        },
        {
          nodeId: "b",
          name: "node-2",
          status: "ready",
          maintenance: true,
          active: false,
          vpsCount: 0,
          cpu: 0,
          memory: 0,
          dirtyPagesPerSec: 0,
          deviation: -0.2,
        },
      ],
    });
    expect(out).toContain("balancer:   enabled, mode spread (balancing)");
    expect(out).toContain("score:      0.312 (threshold 0.1, stops under 0.05;");
    expect(out).toMatch(/NODE\s+STATUS\s+VPS\s+CPU\s+MEMORY\s+DIRTY RATE\s+DEVIATION/);
    expect(out).toMatch(/node-1\s+ready\s+30\s+81%\s+50%\s+1 MiB\/s\s+\+0\.42\n/);
    expect(out).toMatch(/node-2\s+ready,maintenance\s+0\s+0%\s+0%\s+0 B\/s\s+\(not counted\)\n/);
    expect(out).toContain("  cooldownSeconds:       300");
  });

  it("shows a dry run's moves and what blocks a drain", () => {
    const plan: BalancerPlan = {
      mode: "spread",
      threshold: 0.1,
      floor: 0.05,
      scoreBefore: 0.4,
      scoreAfter: 0.04,
      penaltyBefore: 0,
      penaltyAfter: 0,
      moves: [
        {
          vpsId: "v",
          vpsName: "web-3",
          fromNodeId: "a",
          fromNode: "node-1",
          toNodeId: "b",
          toNode: "node-3",
          scoreBefore: 0.4,
          scoreAfter: 0.2,
          gain: 0.2,
          estimatedSeconds: 1.2,
          reason: "spread: node-1 is busiest",
        },
      ],
      outcome: "balanced",
      balancing: true,
      skipped: { cooldown: 1, groups: 0 },
    };
    const out = renderDryRun({
      settings,
      plan,
      nextRound: { ...plan, outcome: "capped" },
      drain: {
        moves: [],
        waiting: [],
        blocked: [{ vpsId: "x", vpsName: "db-1", nodeId: "c", reason: "strict anti-affinity" }],
      },
    });
    expect(out).toContain(
      "plan:       score 0.4 → 0.04 in 1 move (mode spread, threshold 0.1, floor 0.05): balanced; skipped: cooldown 1",
    );
    expect(out).toMatch(/web-3\s+node-1\s+node-3\s+0\.4 → 0\.2\s+0\.2\s+2s\s+spread: node-1 is busiest/);
    expect(out).toContain("blocked:\n  db-1: strict anti-affinity\n");
    expect(
      renderDryRun({
        settings,
        plan: { ...plan, moves: [] },
        nextRound: plan,
        drain: { moves: [], waiting: [], blocked: [] },
      }),
    ).toContain("No moves");
  });

  it("turns options into a settings patch, checking each", () => {
    expect(settingsPatch({ mode: "pack", threshold: "0.2", cooldown: "60", "max-per-node": "1" })).toEqual({
      mode: "pack",
      threshold: 0.2,
      cooldownSeconds: 60,
      maxConcurrentPerNode: 1,
    });
    expect(() => settingsPatch({ mode: "chaos" })).toThrow("--mode must be spread or pack");
    expect(() => settingsPatch({ "max-moves": "1.5" })).toThrow("whole number");
    expect(() => settingsPatch({ threshold: "-1" })).toThrow("non-negative");
  });
});

describe("drain progress", () => {
  it("says what is left and why some VPSes cannot move", () => {
    const d: DrainProgress = {
      nodeId: "n",
      name: "node-2",
      maintenance: true,
      done: false,
      remaining: 3,
      migrating: 1,
      completed: 2,
      failed: 0,
      next: [],
      waiting: [],
      blocked: [{ vpsId: "x", vpsName: "db-1", nodeId: "n", reason: "no other node fits" }],
    };
    expect(drainLine(d)).toBe(
      "node-2: 3 VPSes left, 1 migrating, 2 moved, 0 failed\n  blocked: db-1: no other node fits\n",
    );
    expect(drainLine({ ...d, done: true, remaining: 0, migrating: 0, completed: 5, blocked: [] })).toBe(
      "node-2: drained (5 moved)\n",
    );
  });
});

describe("migrations output", () => {
  it("shows node names, figures in units and one row per pre-copy round", () => {
    const m: Migration = {
      id: "m1",
      vpsId: vps.id,
      sourceNodeId: "n1",
      targetNodeId: "n2",
      state: "completed",
      kind: "live",
      trigger: "manual",
      reason: null,
      sourceEpoch: 1,
      targetEpoch: 2,
      options: { maxDowntimeMs: null, bandwidthBytesPerSec: null, maxRounds: null, timeoutMs: null },
      throughputBytesPerSec: null,
      maxThrottlePercent: null,
      cancelRequestedAt: null,
      totalMs: 900,
      errorCode: null,
      error: null,
      startedAt: null,
      finishedAt: null,
      rounds: [
        {
          round: 0,
          phase: "precopy",
          pages: 16384,
          zeroPages: 100,
          blocks: 0,
          bytes: 64 * 2 ** 20,
          ms: 210.5,
          dirtyPagesPerSec: 2560,
          throttlePercent: 0,
        },
        {
          round: 1,
          phase: "stopcopy",
          pages: 12,
          zeroPages: 0,
          blocks: 0,
          bytes: 49_152,
          ms: 3.2,
          dirtyPagesPerSec: 0,
          throttlePercent: 0,
        },
      ],
      bytesSent: 64 * 2 ** 20 + 49_152,
      downtimeMs: 7.25,
      createdAt: new Date().toISOString(),
    };
    const names = new Map([
      ["n1", "node-1"],
      ["n2", "node-2"],
    ]);
    const out = describeMigration(m, names);
    // Values align after the longest key of a full Migration.
    expect(out).toMatch(/\nsourceNodeId: +n1 \(node-1\)\n/);
    expect(out).toMatch(/\ndowntimeMs: +7\.3 ms\n/);
    expect(out).toMatch(/\nrounds: +2\n/);
    expect(out).toMatch(/ROUND\s+PHASE\s+PAGES\s+ZERO\s+BLOCKS\s+SENT\s+TIME\s+DIRTY RATE\s+THROTTLE/);
    expect(out).toMatch(/\n\s+0\s+precopy\s+16384\s+100\s+0\s+64 MiB\s+210\.5 ms\s+10 MiB\/s\s+0%\n/);
    const row = migrationTable([m], names).split("\n")[1]!;
    expect(row).toMatch(/^m1\s+11111111\s+completed\s+manual\s+node-1\s+node-2\s+2\s+64 MiB\s+7\.3 ms\s+0s$/);
    const named = migrationTable([m], names, new Map([[vps.id, "web-1"]])).split("\n")[1]!;
    expect(named).toMatch(/^m1\s+web-1\s+completed/);
    // Without --wait, `vps migrate` says where it goes and how to follow it, in two lines.
    const started = migrationStartedLine({ ...m, state: "queued" }, "web-1", names);
    expect(started).toBe(
      "migration m1: web-1 node-1 → node-2  queued\nfollow it: skiff migrations get m1 (or migrate with --wait)\n",
    );
  });
});
