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

/** Every stateful part of the machine saves and restores itself (as Firecracker's devices do). */
export interface Snapshottable<S extends StateRecord = StateRecord> {
  save(): S;
  restore(state: S): void;
}
