export * from "./config.js";
export * from "./files.js";
export * from "./grpc.js";
export * from "./https.js";
export * from "./identity.js";
export { createCa, type Issued, issueCert, type Validity } from "./issue.js";
export * from "./refusals.js";
export * from "./revocation.js";
export * from "./verify.js";
