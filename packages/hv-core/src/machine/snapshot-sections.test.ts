import { readFileSync } from "node:fs";
import { SkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { ByteWriter } from "../snapshot/bytes.js";
import { decodeSnapshot, encodeSnapshot } from "../snapshot/container.js";
import { crc32 } from "../snapshot/crc32.js";
import type { StateRecord, VersionedState } from "../snapshot/state.js";
import { writeStateValue } from "../snapshot/state-codec.js";
import { TestVirtioDriver } from "../test-support/virtio-driver.js";
import { Machine } from "./machine.js";

const guest = readFileSync(new URL("../../test-guests/determinism.elf", import.meta.url));

/** A firmware guest with a seeded entropy device in virtio slot 0, run a little. */
function running(): Machine {
  const m = Machine.create({
    mode: "firmware",
    memoryBytes: 4 << 20,
    image: guest,
    rng: true,
    clock: "instructions",
  });
  m.run(50_000);
  return m;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

/** A device-state snapshot of `m` with its sections edited by `edit`. */
function edited(m: Machine, edit: (c: Record<string, VersionedState>) => void): Uint8Array {
  const { components } = decodeSnapshot(m.snapshot({ includeRam: false }));
  edit(components);
  return encodeSnapshot({ components });
}

/** The same sections as a format-1 container wrote them: no versions, the transport without deviceVersion. */
function asFormat1(m: Machine): Uint8Array {
  const { components } = decodeSnapshot(m.snapshot({ includeRam: false }));
  const w = new ByteWriter();
  for (const c of "SKIFFSNP") w.u8(c.charCodeAt(0));
  w.u16(1);
  w.u16(0);
  w.u32(Object.keys(components).length);
  for (const [name, { state }] of Object.entries(components)) {
    const { deviceVersion: _dropped, ...v1 } = state;
    const body = new ByteWriter();
    writeStateValue(body, name.startsWith("virtio") ? v1 : state);
    const bytes = body.finish();
    w.u8(1);
    w.string(name);
    w.u32(bytes.length);
    w.bytes(bytes);
  }
  const out = w.finish();
  const sealed = new Uint8Array(out.length + 4);
  sealed.set(out);
  new DataView(sealed.buffer).setUint32(out.length, crc32(out), true);
  return sealed;
}

describe("snapshot sections, one per device with its own version", () => {
  it("names every device's section with the version it was written at", () => {
    const m = running();
    const { formatVersion, components } = decodeSnapshot(m.snapshot({ includeRam: false }));
    expect(formatVersion).toBe(2);
    const versions = Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.version]));
    expect(versions).toEqual({
      machine: 2,
      hart: 1,
      clock: 1,
      clint: 1,
      plic: 1,
      uart: 1,
      sbi: 1,
      platform: 1,
      virtio0: 2,
    });
    expect(components.virtio0?.state.deviceVersion).toBe(1);
  });

  it("restores device states identically", () => {
    const m = running();
    const snap = m.snapshot({ includeRam: false });
    const copy = Machine.restore(snap);
    expect(decodeSnapshot(copy.snapshot({ includeRam: false }))).toEqual(decodeSnapshot(snap));
  });

  it("refuses a section that no device of the machine claims", () => {
    const snap = edited(running(), (c) => {
      c.virtio7 = { version: 1, state: { deviceId: 1 } };
    });
    expect(codeOf(() => Machine.restore(snap))).toBe("SNAPSHOT_SECTION_UNKNOWN");
  });

  it("refuses a device state version this build cannot read", () => {
    for (const name of ["hart", "clock", "clint", "plic", "uart", "sbi", "platform", "virtio0", "machine"]) {
      const snap = edited(running(), (c) => {
        c[name]!.version = 9;
      });
      expect(
        codeOf(() => Machine.restore(snap)),
        name,
      ).toBe("SNAPSHOT_STATE_VERSION");
    }
    const nested = edited(running(), (c) => {
      c.virtio0!.state.deviceVersion = 2;
    });
    expect(codeOf(() => Machine.restore(nested))).toBe("SNAPSHOT_STATE_VERSION");
  });

  it("refuses a missing required section, restores a missing device section as reset", () => {
    const noClint = edited(running(), (c) => {
      delete c.clint;
    });
    expect(codeOf(() => Machine.restore(noClint))).toBe("SNAPSHOT_SECTION_MISSING");

    const m = running();
    // The driver brings the entropy device up, so its state differs from reset.
    const dev = m.virtio.devices[0]!;
    new TestVirtioDriver(m.ram, dev, m.ram.base + (3 << 20)).init();
    expect((dev.save() as StateRecord).status).toBe(15);
    const copy = Machine.restore(
      edited(m, (c) => {
        delete c.virtio0;
      }),
    );
    dev.reset();
    expect(copy.virtio.devices[0]!.save()).toEqual(dev.save());
  });

  it("restores a NIC in its slot with its counters, plugged into the backend the restore gives", () => {
    const sent: Uint8Array[] = [];
    const m = Machine.create({
      mode: "firmware",
      memoryBytes: 4 << 20,
      image: guest,
      rng: true,
      net: { mac: "52:54:00:00:00:07" },
      clock: "instructions",
    });
    const nic = m.virtio.devices[1]!;
    expect(nic.device).toBe(m.net);
    new TestVirtioDriver(m.ram, nic, m.ram.base + (3 << 20)).init();
    expect(m.net!.receive([new Uint8Array(60)])).toBe(0); // no RX buffer posted
    const snap = m.snapshot({ includeRam: false });
    const copy = Machine.restore(snap, { net: { send: (f) => sent.push(f), onFrame() {} } });
    expect(copy.spec.net).toEqual({ mac: "52:54:00:00:00:07" });
    expect(copy.net!.counters).toEqual(m.net!.counters);
    expect(decodeSnapshot(copy.snapshot({ includeRam: false }))).toEqual(decodeSnapshot(snap));
    // A build (or a config) without the NIC must not take the snapshot silently.
    const withoutNic = edited(m, (c) => {
      c.machine!.state.net = null;
    });
    expect(codeOf(() => Machine.restore(withoutNic))).toBe("SNAPSHOT_SECTION_UNKNOWN");
  });

  it("loads a format-1 snapshot (every section at version 1)", () => {
    const m = running();
    const copy = Machine.restore(asFormat1(m));
    expect(decodeSnapshot(copy.snapshot({ includeRam: false }))).toEqual(
      decodeSnapshot(m.snapshot({ includeRam: false })),
    );
  });
});
