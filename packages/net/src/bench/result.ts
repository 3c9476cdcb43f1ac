import { CLASSIC_FRAME_BYTES } from "../wire/ethernet.js";

/** One bench scenario's figures. */
export interface Result {
  name: string;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  mbps: number;
  /** Frames sent but not delivered (overlay: UDP may drop under overload). */
  lost: number;
  /** Round trips, where the scenario measures them (ping). */
  rttP50Ms?: number;
  rttP99Ms?: number;
}

/** Figures for `delivered` full-size frames in `seconds`. */
export function result(name: string, sent: number, delivered: number, seconds: number): Result {
  const framesPerSecond = delivered / seconds;
  return {
    name,
    frames: delivered,
    seconds: Number(seconds.toFixed(3)),
    framesPerSecond: Math.round(framesPerSecond),
    mbps: Number(((framesPerSecond * CLASSIC_FRAME_BYTES * 8) / 1e6).toFixed(1)),
    lost: sent - delivered,
  };
}
