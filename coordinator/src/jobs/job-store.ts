/**
 * Job records in KV `imgc-jobs`, written with compare-and-set on the revision, plus an in-memory index
 * (tenant, state) of every job so ListJobs pages without scanning the bucket.
 */
import { decodeMessage } from "@imgc/common";
import { type Job, JobSchema, type JobState } from "@imgc/proto";
import type { KV } from "nats";
import { createMessage, getMessage, snapshot, updateMessage, type Versioned } from "./kv.js";

interface IndexEntry {
  tenant: string;
  state: JobState;
}

export interface JobPage {
  jobs: Job[];
  /** The id to continue after; empty on the last page. */
  next: string;
}

export function createJobStore(kv: KV) {
  const index = new Map<string, IndexEntry>();
  // Ids sort by creation time (see ids.ts): this array, ascending, is the newest-first order reversed.
  const sorted: string[] = [];

  function remember(job: Job): void {
    if (!index.has(job.id)) {
      let at = sorted.length;
      while (at > 0 && (sorted[at - 1] as string) > job.id) at--;
      sorted.splice(at, 0, job.id);
    }
    index.set(job.id, { tenant: job.tenant, state: job.state });
  }

  return {
    /** Reads every job into the index; returns them all (the caller resumes the ones not ended). */
    async load(): Promise<Job[]> {
      const jobs = (await snapshot(kv)).map((entry) => decodeMessage(JobSchema, entry.value));
      jobs.sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const job of jobs) remember(job);
      return jobs;
    },

    async get(id: string): Promise<Versioned<Job> | null> {
      return getMessage(kv, JobSchema, id);
    },

    /** Stores a new job; false when the id is taken. */
    async create(job: Job): Promise<number | null> {
      const revision = await createMessage(kv, JobSchema, job.id, job);
      if (revision !== null) remember(job);
      return revision;
    },

    async update(id: string, mutate: (job: Job) => unknown): Promise<Versioned<Job> | null> {
      const updated = await updateMessage(kv, JobSchema, id, mutate);
      if (updated) remember(updated.value);
      return updated;
    },

    tenantOf(id: string): string | undefined {
      return index.get(id)?.tenant;
    },

    /** The tenant's jobs, newest first, after the job `after` (exclusive), optionally in one state. */
    async list(tenant: string, state: JobState | undefined, after: string, limit: number): Promise<JobPage> {
      const ids: string[] = [];
      let more = false;
      for (let i = sorted.length - 1; i >= 0; i--) {
        const id = sorted[i] as string;
        if (after && id >= after) continue;
        const entry = index.get(id);
        if (!entry || entry.tenant !== tenant || (state !== undefined && entry.state !== state)) continue;
        if (ids.length === limit) {
          more = true;
          break;
        }
        ids.push(id);
      }
      const jobs = await Promise.all(ids.map((id) => getMessage(kv, JobSchema, id)));
      return {
        jobs: jobs.flatMap((entry) => (entry ? [entry.value] : [])),
        next: more ? (ids[ids.length - 1] ?? "") : "",
      };
    },

    count(predicate: (state: JobState) => boolean): number {
      let n = 0;
      for (const entry of index.values()) if (predicate(entry.state)) n++;
      return n;
    },
  };
}

export type JobStore = ReturnType<typeof createJobStore>;
