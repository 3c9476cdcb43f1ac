export * from "./bus.js";
export * from "./devices/mmio.js";
export * from "./irq.js";
export * from "./memory/ram.js";
export * from "./snapshot/state.js";
export * from "./devices/clint.js";
export * from "./devices/plic.js";
export * from "./devices/uart16550.js";
