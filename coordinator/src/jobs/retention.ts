/**
 * Retention: an ended job, its outputs, its report and its uploads are deleted `days` after the job ended
 * (`Job.expires_at`). The job's own `retention_days` wins over its tenant's, which wins over the coordinator's
 * default; 0 days keeps jobs forever. The leader sweeps expired jobs every `sweepMs`, a bounded batch at a time, and deletes
 * each with the DeleteJob code path.
 */
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "@imgc/common";
import type { Job } from "@imgc/proto";
import { isNotLeader } from "../leadership/fence.js";

export interface RetentionPolicy {
  /** Days an ended job is kept when it asked for no retention of its own; 0 keeps it forever. */
  days: number;
  /** Per-tenant days over `days` (0: that tenant's jobs are kept forever). */
  tenants?: ReadonlyMap<string, number>;
  /** How often the leader sweeps expired jobs. */
  sweepMs: number;
  /** The length of a day in milliseconds (tests shorten it). */
  dayMs?: number;
}

const DAY_MS = 86_400_000;
/**
 * The days after which the store's lifecycle rule on uploads/ expires an upload: a day past the longest default
 * retention, so it never runs ahead of a job's own deletion; 0 (no rule) when some tenant keeps jobs forever.
 */
export function uploadsExpiryDays(policy: Pick<RetentionPolicy, "days" | "tenants">): number {
  const all = [policy.days, ...(policy.tenants?.values() ?? [])];
  return all.includes(0) ? 0 : Math.max(...all) + 1;
}

/** Jobs deleted per sweep at most: the rest wait for the next sweep, so one sweep never holds the leader long. */
export const SWEEP_BATCH = 20;

/** When a job that ended at `finishedAt` expires; undefined when it is kept forever. */
export function expiresAt(job: Job, finishedAt: Timestamp, policy: RetentionPolicy): Timestamp | undefined {
  const days = job.retentionDays || (policy.tenants?.get(job.tenant) ?? policy.days);
  if (days === 0) return undefined;
  return timestampFromMs(timestampMs(finishedAt) + days * (policy.dayMs ?? DAY_MS));
}

export interface SweepDeps {
  policy: RetentionPolicy;
  /** Up to `limit` ids of ended jobs whose expires_at is at or before `now`, soonest first. */
  expired(now: number, limit: number): string[];
  /** Deletes one job and its data (the DeleteJob path). */
  remove(jobId: string): Promise<unknown>;
  log: Logger;
  now?: () => number;
}

export function createRetentionSweep(deps: SweepDeps) {
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  /** Deletes up to SWEEP_BATCH expired jobs; answers how many were deleted. */
  async function sweep(): Promise<number> {
    let deleted = 0;
    for (const jobId of deps.expired(now(), SWEEP_BATCH)) {
      try {
        await deps.remove(jobId);
        deleted++;
      } catch (err) {
        // Deposed mid-sweep: the next leader sweeps. Anything else: this job waits for the next sweep.
        if (isNotLeader(err)) break;
        deps.log.warn({ err, jobId }, "could not delete an expired job; trying again at the next sweep");
      }
    }
    if (deleted > 0) deps.log.info({ deleted }, "deleted expired jobs");
    return deleted;
  }

  return {
    sweep,
    start(): void {
      timer = setInterval(() => {
        // One sweep at a time: a slow store must not pile sweeps up.
        running ??= sweep().finally(() => {
          running = undefined;
        });
      }, deps.policy.sweepMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
