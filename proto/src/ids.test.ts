import { describe, expect, test } from "vitest";
import { isJobId, isWorkerId } from "./ids.js";
import { isTenant } from "./tenant.js";

describe("ids and tenants", () => {
  test("a job id is the coordinator's 20 URL-safe characters", () => {
    expect(isJobId("0Qb3x_Yz-AbCdEfGhIjK")).toBe(true);
    expect(isJobId("job-1")).toBe(false);
    expect(isJobId("0Qb3x_Yz-AbCdEfGhIj.")).toBe(false);
  });

  test("a worker id is one NATS subject token of at most 64 characters", () => {
    expect(isWorkerId("worker-1")).toBe(true);
    expect(isWorkerId("w".repeat(64))).toBe(true);
    // The coordinator took up to 128 while workers refused more than 64 for themselves.
    expect(isWorkerId("w".repeat(65))).toBe(false);
    for (const bad of ["", "a.b", "a b", "a*", "a>"]) expect(isWorkerId(bad)).toBe(false);
  });

  test("a tenant is a safe key folder: dots allowed, but not first", () => {
    expect(isTenant("acme")).toBe(true);
    expect(isTenant("acme.eu_2-b")).toBe(true);
    expect(isTenant("a".repeat(64))).toBe(true);
    for (const bad of ["", "a".repeat(65), "-acme", ".acme", "..", "a/b", "a b"]) expect(isTenant(bad)).toBe(false);
  });
});
