/**
 * Job records in KV `imgc-jobs`, written with compare-and-set on the revision, plus an in-memory index
 * (tenant, state) of every job so ListJobs pages without scanning the bucket.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { decodeMessage } from "@imgc/common";
import { type Job, JobSchema, type JobState } from "@imgc/proto";
import type { KV } from "nats";
import { type Fence, NotLeaderError, unfenced } from "../leadership/fence.js";
import { createMessage, getMessage, snapshot, updateMessage, type Versioned } from "./kv.js";

interface IndexEntry {
  tenant: string;
  state: JobState;
  /** When retention deletes the job (ms); 0 when never. */
  expiresAt: number;
}

export interface JobPage {
  jobs: Job[];
  /** The id to continue after; empty on the last page. */
  next: string;
}

/**
 * `fence` guards every write: a record last written by a later leadership term is never overwritten, and the
 * record written carries the writer's term.
 */
export function createJobStore(kv: KV, fence: Fence = unfenced) {
  const index = new Map<string, IndexEntry>();
  // Ids sort by creation time (see ids.ts): this array, ascending, is the newest-first order reversed.
  const sorted: string[] = [];

  function remember(job: Job): void {
    if (!index.has(job.id)) {
      let at = sorted.length;
      while (at > 0 && (sorted[at - 1] as string) > job.id) at--;
      sorted.splice(at, 0, job.id);
    }
    index.set(job.id, {
      tenant: job.tenant,
      state: job.state,
      expiresAt: job.expiresAt ? timestampMs(job.expiresAt) : 0,
    });
  }

  function forget(id: string): void {
    if (!index.delete(id)) return;
    const at = sorted.indexOf(id);
    if (at >= 0) sorted.splice(at, 1);
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
      job.leaderTerm = BigInt(fence.check());
      const revision = await createMessage(kv, JobSchema, job.id, job);
      if (revision !== null) remember(job);
      return revision;
    },

    /** Compare-and-set, from `known` (the record as this process last wrote it) when given: see updateMessage. */
    async update(id: string, mutate: (job: Job) => unknown, known?: Versioned<Job>): Promise<Versioned<Job> | null> {
      const fenced = (job: Job) => {
        const term = BigInt(fence.check());
        if (job.leaderTerm > term) throw new NotLeaderError(undefined);
        if (mutate(job) === false) return false;
        job.leaderTerm = term;
      };
      const updated = await updateMessage(kv, JobSchema, id, fenced, known);
      if (updated) remember(updated.value);
      return updated;
    },

    /**
     * Keeps the index current with every write, whoever made it (a follower answers ListJobs from it, and a new
     * leader starts from it). Resolves once the bucket's current contents are indexed.
     */
    async follow(): Promise<{ stop(): void }> {
      let initialized!: () => void;
      const ready = new Promise<void>((resolve) => {
        initialized = resolve;
      });
      const watch = await kv.watch({ key: ">", initializedFn: () => initialized() });
      void (async () => {
        for await (const entry of watch) {
          if (entry.operation !== "PUT") {
            forget(entry.key);
            continue;
          }
          try {
            remember(decodeMessage(JobSchema, entry.value));
          } catch {
            // A record this version cannot read is skipped, as load() would fail it loudly on resume.
          }
        }
      })();
      await ready;
      return { stop: () => watch.stop() };
    },

    /** Removes a job record for good (DeleteJob, retention); fenced like every other write. */
    async remove(id: string): Promise<void> {
      fence.check();
      await kv.purge(id);
      forget(id);
    },

    /** Up to `limit` ids of jobs whose retention ran out at or before `now`, soonest first. */
    expired(now: number, limit: number): string[] {
      const due: [string, number][] = [];
      for (const [id, entry] of index)
        if (entry.expiresAt > 0 && entry.expiresAt <= now) due.push([id, entry.expiresAt]);
      return due
        .sort((a, b) => a[1] - b[1])
        .slice(0, limit)
        .map(([id]) => id);
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
