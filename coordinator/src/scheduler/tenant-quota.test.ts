import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Job, JobCountsSchema, JobSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { createTenantQuota } from "./tenant-quota.js";

function lifecycleOf(jobs: Job[]) {
  return {
    openJobIds: () => jobs.map((job) => job.id),
    get: async (id: string) => jobs.find((job) => job.id === id) ?? null,
  };
}

const job = (id: string, tenant: string, pending: number) =>
  create(JobSchema, { id, tenant, counts: create(JobCountsSchema, { total: pending, pending }) });

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected a refusal");
}

describe("tenant quotas", () => {
  it("refuses a tenant's next job at its open-jobs limit, not another tenant's", async () => {
    const quota = createTenantQuota(
      { maxOpenJobs: 2, maxOpenItems: 0 },
      lifecycleOf([job("a1", "acme", 1), job("a2", "acme", 1)]),
    );
    const err = await failure(quota.admit("acme"));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe(
      "tenant acme has 2 open jobs, the most allowed (IMGC_TENANT_MAX_OPEN_JOBS=2); wait for one to end or cancel one",
    );
    (await quota.admit("globex")).release();
  });

  it("counts submissions still being accepted, so a concurrent burst cannot slip past", async () => {
    const quota = createTenantQuota({ maxOpenJobs: 2, maxOpenItems: 0 }, lifecycleOf([]));
    const first = await quota.admit("acme");
    const second = await quota.admit("acme");
    expect((await failure(quota.admit("acme"))).code).toBe(Code.ResourceExhausted);
    first.release();
    first.release();
    (await quota.admit("acme")).release();
    second.release();
  });

  it("refuses a job whose items would take the tenant past its open-items limit", async () => {
    const quota = createTenantQuota({ maxOpenJobs: 0, maxOpenItems: 100 }, lifecycleOf([job("a1", "acme", 60)]));
    const ticket = await quota.admit("acme");
    await ticket.addItems(40);
    const other = await quota.admit("acme");
    const err = await failure(other.addItems(1));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(
      /^tenant acme has 100 images still to do and this job adds 1, more than the 100 allowed/,
    );
    ticket.release();
    other.release();
    await (await quota.admit("acme")).addItems(40);
  });
});
