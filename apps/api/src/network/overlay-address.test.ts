import { describe, expect, it } from "vitest";
import { overlayAddress } from "./overlay-address.js";

describe("overlay endpoints in the map", () => {
  it("keeps an address and resolves a name to one (switches compare datagrams' sources with it)", async () => {
    expect(await overlayAddress("127.0.0.1")).toBe("127.0.0.1");
    expect(await overlayAddress("10.9.8.7")).toBe("10.9.8.7");
    // From /etc/hosts: no query leaves the machine.
    expect(await overlayAddress("localhost")).toBe("127.0.0.1");
  });
});
