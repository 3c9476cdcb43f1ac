import { SkiffError } from "@skiff/common";
import { FDT_MAGIC } from "./writer.js";

export interface FdtNode {
  name: string;
  properties: Map<string, Uint8Array>;
  children: FdtNode[];
}

export interface ParsedFdt {
  version: number;
  bootCpuId: number;
  reservations: { address: number; size: number }[];
  root: FdtNode;
}

function bad(message: string): never {
  throw new SkiffError("FDT_INVALID", message);
}

/**
 * Reads a devicetree blob back into nodes and raw property values (for tests and diagnostics:
 * checking what a machine hands its guest). Every offset is checked against the blob.
 */
export function parseFdt(blob: Uint8Array): ParsedFdt {
  if (blob.length < 40) bad("blob shorter than its header");
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const word = (i: number) => v.getUint32(4 * i);
  if (word(0) !== FDT_MAGIC) bad("bad magic");
  const total = word(1);
  const [structOff, stringsOff, rsvOff, version] = [word(2), word(3), word(4), word(5)];
  const stringsSize = word(8);
  const structSize = word(9);
  if (total > blob.length || structOff + structSize > total || stringsOff + stringsSize > total)
    bad("blocks outside the blob");
  if (version < 17) bad(`version ${version} < 17`);

  const reservations: { address: number; size: number }[] = [];
  for (let at = rsvOff; ; at += 16) {
    if (at + 16 > total) bad("unterminated memory reservation map");
    const address = v.getUint32(at) * 2 ** 32 + v.getUint32(at + 4);
    const size = v.getUint32(at + 8) * 2 ** 32 + v.getUint32(at + 12);
    if (address === 0 && size === 0) break;
    reservations.push({ address, size });
  }

  const decoder = new TextDecoder();
  const cstr = (at: number, end: number): [string, number] => {
    let z = at;
    while (z < end && blob[z] !== 0) z++;
    if (z >= end) bad("unterminated string");
    return [decoder.decode(blob.subarray(at, z)), z + 1];
  };
  const align = (n: number) => (n + 3) & ~3;

  const end = structOff + structSize;
  let at = structOff;
  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    if (at + 4 > end) bad("structure block ends without FDT_END");
    const token = v.getUint32(at);
    at += 4;
    if (token === 1) {
      const [name, next] = cstr(at, end);
      at = align(next);
      const node: FdtNode = { name, properties: new Map(), children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(node);
      else if (root) bad("second root node");
      else root = node;
      stack.push(node);
    } else if (token === 2) {
      if (!stack.pop()) bad("FDT_END_NODE without a node");
    } else if (token === 3) {
      const node = stack[stack.length - 1] ?? bad("property outside a node");
      const len = v.getUint32(at);
      const nameOff = v.getUint32(at + 4);
      at += 8;
      if (at + len > end || nameOff >= stringsSize) bad("property out of bounds");
      const [name] = cstr(stringsOff + nameOff, stringsOff + stringsSize);
      node.properties.set(name, blob.slice(at, at + len));
      at = align(at + len);
    } else if (token === 4) {
      // FDT_NOP
    } else if (token === 9) {
      break;
    } else {
      bad(`unknown token ${token}`);
    }
  }
  if (!root || stack.length !== 0) bad("unbalanced nodes");
  return { version, bootCpuId: word(7), reservations, root };
}

/** The node at `path` ("/soc/serial@10000000"), or undefined. */
export function findNode(root: FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = root;
  for (const part of path.split("/").filter((p) => p !== "")) {
    node = node?.children.find((c) => c.name === part);
  }
  return node;
}

/** A property's big-endian cells. */
export function propCells(value: Uint8Array): number[] {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: value.length >>> 2 }, (_, i) => v.getUint32(4 * i));
}

/** A property's strings (a string or a stringlist). */
export function propStrings(value: Uint8Array): string[] {
  const text = new TextDecoder().decode(value);
  return text.endsWith("\0") ? text.slice(0, -1).split("\0") : [text];
}
