import { describe, expect, it } from "vitest";
import { fetchPortList } from "./config.js";

describe("IMGC_FETCH_PORTS", () => {
  it("reads ports and refuses anything else, naming the entry", () => {
    expect(fetchPortList("80, 443,8443")).toEqual([80, 443, 8443]);
    expect(() => fetchPortList("80,http,70000")).toThrow(
      /Expected a port between 1 and 65535 for entry 2 of IMGC_FETCH_PORTS but received "http"/,
    );
  });
});
