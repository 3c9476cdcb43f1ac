export * from "./generated/skiff/v1/common.js";
