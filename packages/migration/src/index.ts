export * from "./checksum.js";
export * from "./codec.js";
export * from "./compress.js";
export * from "./format.js";
export * from "./link.js";
export * from "./policy.js";
export * from "./receiver.js";
export * from "./sender.js";
