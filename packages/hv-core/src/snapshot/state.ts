import { SkiffError } from "@skiff/common";

/**
 * What a component's saved state may hold: plain data that the snapshot format can encode
 * self-describingly (numbers, strings, booleans, byte arrays, 32-bit word arrays, arrays, records).
 */
export type StateValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | Int32Array
  | Uint32Array
  | StateValue[]
  | { [key: string]: StateValue };

export type StateRecord = { [key: string]: StateValue };

/** One section of a snapshot: a component's state and the version of its shape it was written at. */
export interface VersionedState {
  version: number;
  state: StateRecord;
}

/**
 * Every stateful part of the machine saves and restores itself, each with its own state type and
 * version (Firecracker's per-device Persist, cloud-hypervisor's Snapshottable). `stateVersion` is
 * bumped whenever `S` changes shape; `restore` reads that version and any older one it can
 * upgrade, and refuses the rest with SNAPSHOT_STATE_VERSION, so a snapshot or migration stream
 * from another build never restores a device half-right.
 */
export interface Snapshottable<S extends StateRecord = StateRecord> {
  readonly stateVersion: number;
  save(): S;
  /** `state` as decoded (not yet checked), written at `version`. */
  restore(state: StateRecord, version: number): void;
}

/** Refuses a state version this build cannot read (from a newer build, or dropped). */
export function requireStateVersion(component: string, version: number, readable: readonly number[]): void {
  if (!readable.includes(version)) {
    throw new SkiffError(
      "SNAPSHOT_STATE_VERSION",
      `${component}: state version ${version} is not supported (this build reads ${readable.join(", ")})`,
      { component, version, readable: [...readable] },
    );
  }
}

/** A component's current state, tagged with its version, as the snapshot container stores it. */
export function saveVersioned<S extends StateRecord>(c: Snapshottable<S>): VersionedState {
  return { version: c.stateVersion, state: c.save() };
}
