/**
 * Per-tenant quotas on open work: jobs not yet ended, and the items still to do in them. One tenant's burst
 * (thousands of SubmitJobs, or a few huge manifests) must not take the whole cluster from the others; over a
 * quota, SubmitJob is ResourceExhausted with a message saying which limit and how to get under it.
 *
 * Counted from the coordinator's open jobs (what lifecycle holds in memory) plus the submissions still being
 * accepted, which are not open yet: without those, a burst of concurrent SubmitJobs would all pass the check.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Job } from "@imgc/proto";

export interface TenantQuota {
  /** IMGC_TENANT_MAX_OPEN_JOBS: jobs of one tenant not yet ended; 0 means no limit. */
  maxOpenJobs: number;
  /** IMGC_TENANT_MAX_OPEN_ITEMS: items of one tenant's open jobs not yet done; 0 means no limit. */
  maxOpenItems: number;
}

/** The part of the lifecycle the quota reads. */
export interface OpenJobs {
  openJobIds(): string[];
  get(jobId: string): Promise<Job | null>;
}

export interface QuotaTicket {
  /** Checks the items the job will add, once its sources are expanded; throws ResourceExhausted over it. */
  addItems(count: number): Promise<void>;
  /** The submission is over (accepted or not): it stops counting as pending. */
  release(): void;
}

export function createTenantQuota(quota: TenantQuota, lifecycle: OpenJobs) {
  /** Submissions being accepted now, by tenant: jobs and the items they declared so far. */
  const pending = new Map<string, { jobs: number; items: number }>();

  async function openOf(tenant: string): Promise<{ jobs: number; items: number }> {
    let jobs = 0;
    let items = 0;
    for (const id of lifecycle.openJobIds()) {
      const job = await lifecycle.get(id);
      if (job?.tenant !== tenant) continue;
      jobs++;
      items += job.counts ? job.counts.pending + job.counts.running : 0;
    }
    const inFlight = pending.get(tenant) ?? { jobs: 0, items: 0 };
    return { jobs: jobs + inFlight.jobs, items: items + inFlight.items };
  }

  return {
    /** Admits one more job of `tenant` or throws ResourceExhausted; the ticket must be released. */
    async admit(tenant: string): Promise<QuotaTicket> {
      const open = await openOf(tenant);
      if (quota.maxOpenJobs > 0 && open.jobs >= quota.maxOpenJobs) {
        throw new ConnectError(
          `tenant ${tenant} has ${open.jobs} open jobs, the most allowed (IMGC_TENANT_MAX_OPEN_JOBS=${quota.maxOpenJobs}); wait for one to end or cancel one`,
          Code.ResourceExhausted,
        );
      }
      const mine = { jobs: 1, items: 0 };
      const entry = pending.get(tenant) ?? { jobs: 0, items: 0 };
      entry.jobs++;
      pending.set(tenant, entry);
      let released = false;
      return {
        async addItems(count) {
          const now = await openOf(tenant);
          if (quota.maxOpenItems > 0 && now.items + count > quota.maxOpenItems) {
            throw new ConnectError(
              `tenant ${tenant} has ${now.items} images still to do and this job adds ${count}, more than the ${quota.maxOpenItems} allowed (IMGC_TENANT_MAX_OPEN_ITEMS); wait for jobs to end or submit fewer`,
              Code.ResourceExhausted,
            );
          }
          mine.items += count;
          entry.items += count;
        },
        release() {
          if (released) return;
          released = true;
          entry.jobs -= mine.jobs;
          entry.items -= mine.items;
          if (entry.jobs <= 0) pending.delete(tenant);
        },
      };
    },
  };
}

export type TenantQuotas = ReturnType<typeof createTenantQuota>;
