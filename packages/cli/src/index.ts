export { run } from "./cli.js";
export { ApiClient, ApiError } from "./client.js";
export type { Io } from "./command.js";
export { resolveConnection } from "./config.js";
