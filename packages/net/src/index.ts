export * from "./map.js";
export * from "./overlay/transport.js";
export * from "./overlay/vxlan-transport.js";
export * from "./switch/counters.js";
export * from "./switch/node-switch.js";
export * from "./wire/index.js";
