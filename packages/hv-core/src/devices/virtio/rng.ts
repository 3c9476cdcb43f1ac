import { randomFillSync } from "node:crypto";
import { stateWords } from "../../snapshot/fields.js";
import { requireStateVersion, type StateRecord } from "../../snapshot/state.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioDeviceId } from "./device.js";

export interface VirtioRngOptions {
  /** Deterministic output from this seed (reproducible tests and runs); default: host crypto RNG. */
  seed?: number;
}

/** Bytes handed out per request at most; a larger buffer gets a partial fill (len says how much). */
const MAX_REQUEST = 64 * 1024;

/**
 * virtio entropy device (virtio 1.1 §5.4): fills every device-writable buffer the driver posts
 * with random bytes. With a seed, the bytes come from xoshiro128** seeded by splitmix32, so a
 * deterministic machine stays deterministic (and the generator state travels in snapshots).
 */
/** virtio-rng's saved state (version 1): the seeded generator's state, absent for the host RNG. */
export type RngState = { prng?: Uint32Array };

export class VirtioRng implements VirtioBackend {
  readonly deviceId = VirtioDeviceId.ENTROPY;
  readonly stateVersion = 1;
  readonly kind = "virtio-rng";
  readonly features: readonly number[] = [];
  readonly queueSizes = [64] as const;
  readonly configSize = 0;
  private readonly prng: Uint32Array | null;
  private ctx: VirtioDeviceContext | undefined;

  constructor(options: VirtioRngOptions = {}) {
    if (options.seed === undefined) {
      this.prng = null;
    } else {
      this.prng = new Uint32Array(4);
      let x = options.seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        this.prng[i] = (z ^ (z >>> 16)) >>> 0;
      }
      if (this.prng.every((w) => w === 0)) this.prng[0] = 1; // the all-zero state is a fixed point
    }
  }

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  readConfig(): number {
    return 0;
  }

  writeConfig(): void {}

  notify(index: number): void {
    const q = this.ctx?.queue(index);
    if (!q) return;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      const bytes = this.random(Math.min(chain.writableLength, MAX_REQUEST));
      q.pushUsed(chain.head, chain.write(0, bytes));
    }
  }

  /** `n` random bytes from the host's CSPRNG or the seeded generator. */
  random(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const s = this.prng;
    if (s === null) return randomFillSync(out);
    for (let i = 0; i < n; i += 4) {
      // xoshiro128** (Blackman & Vigna): result = rotl(s1 * 5, 7) * 9
      const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
      const t = s[1]! << 9;
      s[2] ^= s[0]!;
      s[3] ^= s[1]!;
      s[1] ^= s[2]!;
      s[0] ^= s[3]!;
      s[2] ^= t;
      s[3] = rotl(s[3]!, 11);
      for (let b = 0; b < 4 && i + b < n; b++) out[i + b] = (r >>> (8 * b)) & 0xff;
    }
    return out;
  }

  reset(): void {}

  save(): RngState {
    return this.prng === null ? {} : { prng: this.prng.slice() };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion(this.kind, version, [1]);
    if (this.prng !== null && s.prng !== undefined) this.prng.set(stateWords(s, this.kind, "prng", 4));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
