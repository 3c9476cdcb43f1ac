import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@skiff/devkit";
import { afterAll, describe, expect, it } from "vitest";
import { claimLease, leaseEpochs, leaseHolder, pruneLeases } from "./lease.js";
import { SharedStorage } from "./shared.js";

const tmp = makeTempDir("skiff-storage-");
afterAll(() => tmp.remove());
let n = 0;
const fresh = () => join(tmp.path, `s${++n}`);

describe("shared storage", () => {
  it("has one identity, whichever node opens it first", () => {
    const dir = fresh();
    const [a, b] = [SharedStorage.open(dir), SharedStorage.open(dir)];
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.id).toBe(a.id);
    expect(SharedStorage.open(fresh()).id).not.toBe(a.id);
  });

  it("makes a VPS's disk from the image once and reuses it, never overwriting it", () => {
    const s = SharedStorage.open(fresh());
    const image = join(tmp.path, `image${n}`);
    writeFileSync(image, "image bytes");
    expect(s.ensureDisk("vps-1", image, 4096, false)).toEqual({ created: true });
    const disk = s.diskPath("vps-1");
    expect(readFileSync(disk).subarray(0, 11).toString()).toBe("image bytes");
    expect(readFileSync(disk).length).toBe(4096);
    writeFileSync(disk, "the guest wrote this");
    expect(s.ensureDisk("vps-1", image, 4096, false)).toEqual({ created: false });
    expect(s.ensureDisk("vps-1", image, 4096, true)).toEqual({ created: false });
    expect(readFileSync(disk, "utf8")).toBe("the guest wrote this");
    expect(() => s.ensureDisk("vps-2", image, 4096, true)).toThrow(
      expect.objectContaining({ code: "DISK_NOT_FOUND" }),
    );
    expect(existsSync(s.diskPath("vps-2"))).toBe(false);
    expect(() => s.diskPath("../escape")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("deletes a disk only for its latest owner", () => {
    const s = SharedStorage.open(fresh());
    const image = join(tmp.path, `image${n}`);
    writeFileSync(image, "x");
    s.ensureDisk("vps", image, 0, false);
    claimLease(s.diskDir("vps"), "vps", 3, "node-a");
    expect(() => s.deleteDisk("vps", 2)).toThrow(expect.objectContaining({ code: "STALE_EPOCH" }));
    expect(existsSync(s.diskPath("vps"))).toBe(true);
    expect(s.deleteDisk("vps", 3)).toBe(true);
    expect(existsSync(s.diskDir("vps"))).toBe(false);
    expect(s.deleteDisk("vps", 3)).toBe(false);
  });
});

describe("disk leases", () => {
  it("the highest epoch owns the disk; older claims are refused, the same one is a no-op", () => {
    const dir = fresh();
    SharedStorage.open(dir);
    const d = join(dir, "disks");
    expect(leaseHolder(d)).toBe(0);
    expect(claimLease(d, "v", 1, "a")).toEqual({ tookOverFrom: undefined });
    expect(claimLease(d, "v", 1, "a")).toEqual({ tookOverFrom: undefined });
    expect(claimLease(d, "v", 3, "b")).toEqual({ tookOverFrom: 1 });
    expect(leaseHolder(d)).toBe(3);
    expect(() => claimLease(d, "v", 2, "a")).toThrow(expect.objectContaining({ code: "STALE_EPOCH" }));
    expect(leaseEpochs(d)).toEqual([3, 1]);
    pruneLeases(d, 3);
    expect(leaseEpochs(d)).toEqual([3]);
    expect(JSON.parse(readFileSync(join(d, "lease.3"), "utf8"))).toMatchObject({ epoch: 3, node: "b" });
  });

  it("a claim by a newer epoch (another node's file) wins over an older claimer", () => {
    const d = fresh();
    SharedStorage.open(d);
    writeFileSync(join(d, "lease.5"), "{}");
    expect(() => claimLease(d, "v", 4, "a")).toThrow(expect.objectContaining({ code: "STALE_EPOCH" }));
    expect(claimLease(d, "v", 6, "b").tookOverFrom).toBe(5);
    expect(leaseEpochs(fresh())).toEqual([]);
  });
});
