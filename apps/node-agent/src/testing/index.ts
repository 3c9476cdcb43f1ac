/** Test helpers for other packages' tests (`@skiff/node-agent/testing`): guests and real agents. */
export { echoFirmware } from "./echo-firmware.js";
export * from "./harness.js";
export { Asm, elf32, X } from "./rv32-asm.js";
