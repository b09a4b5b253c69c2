import { describe, expect, it } from "vitest";
import { fetchPortList, retentionByTenant } from "./config.js";

describe("IMGC_FETCH_PORTS", () => {
  it("reads ports and refuses anything else, naming the entry", () => {
    expect(fetchPortList("80, 443,8443")).toEqual([80, 443, 8443]);
    expect(() => fetchPortList("80,http,70000")).toThrow(
      /Expected a port between 1 and 65535 for entry 2 of IMGC_FETCH_PORTS but received "http"/,
    );
  });
});

describe("IMGC_RETENTION_DAYS_BY_TENANT", () => {
  it("reads tenant:days and refuses anything else, naming the entry", () => {
    expect(retentionByTenant("acme:7, globex : 0")).toEqual(
      new Map([
        ["acme", 7],
        ["globex", 0],
      ]),
    );
    expect(() => retentionByTenant("acme:7,globex:9000")).toThrow(
      /Expected tenant:days with days between 0 and 3650 for entry 2 of IMGC_RETENTION_DAYS_BY_TENANT but received "globex:9000"/,
    );
    expect(() => retentionByTenant("acme")).toThrow(/for entry 1 of IMGC_RETENTION_DAYS_BY_TENANT but received "acme"/);
  });
});
