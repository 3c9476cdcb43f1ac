export * from "./built.js";
export * from "./ports.js";
export * from "./postgres.js";
export * from "./process.js";
export * from "./redis.js";
export * from "./services.js";
export * from "./temp.js";
export * from "./watchdog.js";
