import { SkiffError } from "@skiff/common";
import type { StateRecord, StateValue } from "./state.js";

/**
 * Typed reads of a component's saved state. A snapshot that doesn't match what the device wrote is a
 * host-side problem (corrupt file, wrong version), so it fails loudly with a code instead of
 * restoring a half-right device.
 */
function invalid(device: string, key: string, want: string, got: StateValue | undefined): never {
  throw new SkiffError("SNAPSHOT_STATE_INVALID", `${device}: state field "${key}" should be ${want}`, {
    device,
    key,
    got: got === undefined ? "missing" : typeof got,
  });
}

export function stateNumber(s: StateRecord, device: string, key: string): number {
  const v = s[key];
  if (typeof v !== "number" || !Number.isFinite(v)) invalid(device, key, "a number", v);
  return v;
}

export function stateBool(s: StateRecord, device: string, key: string): boolean {
  const v = s[key];
  if (typeof v !== "boolean") invalid(device, key, "a boolean", v);
  return v;
}

export function stateString(s: StateRecord, device: string, key: string): string {
  const v = s[key];
  if (typeof v !== "string") invalid(device, key, "a string", v);
  return v;
}

export function stateBytes(s: StateRecord, device: string, key: string): Uint8Array {
  const v = s[key];
  if (!(v instanceof Uint8Array)) invalid(device, key, "bytes", v);
  return v;
}

/** A Uint32Array field, optionally of an exact length. */
export function stateWords(s: StateRecord, device: string, key: string, length?: number): Uint32Array {
  const v = s[key];
  if (!(v instanceof Uint32Array) || (length !== undefined && v.length !== length))
    invalid(device, key, length === undefined ? "u32 words" : `${length} u32 words`, v);
  return v;
}

export function stateRecord(s: StateRecord, device: string, key: string): StateRecord {
  const v = s[key];
  if (v === null || typeof v !== "object" || Array.isArray(v) || ArrayBuffer.isView(v))
    invalid(device, key, "a record", v);
  return v as StateRecord;
}

export function stateList(s: StateRecord, device: string, key: string): StateValue[] {
  const v = s[key];
  if (!Array.isArray(v)) invalid(device, key, "a list", v);
  return v;
}
