import { describe, expect, it } from "vitest";
import { fetchPortList, loadCoordinatorConfig, retentionByTenant } from "./config.js";

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

describe("the NATS topology's timing", () => {
  it("comes from the fields the worker shares, with the same defaults and limits", () => {
    expect(loadCoordinatorConfig({})).toMatchObject({ ackWaitMs: 30_000, maxDeliver: 5, workerTtlMs: 10_000 });
    const config = loadCoordinatorConfig({
      IMGC_ACK_WAIT_MS: "45000",
      IMGC_MAX_DELIVER: "3",
      IMGC_WORKER_TTL_MS: "20000",
    });
    expect(config).toMatchObject({ ackWaitMs: 45_000, maxDeliver: 3, workerTtlMs: 20_000 });
    expect(() => loadCoordinatorConfig({ IMGC_MAX_DELIVER: "0" })).toThrow(
      'Expected integer between 1 and 100 for IMGC_MAX_DELIVER but received "0"',
    );
  });
});
