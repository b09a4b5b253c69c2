/**
 * Deleting a job and its data (DeleteJob, and retention when a job expires). A job that has not ended is
 * cancelled first. Then, in an order that a crash at any point leaves retriable (the job record goes last, so
 * DeleteJob can be called again and finishes the rest): the job's outputs, its report, the uploads its items
 * used, its results, chunks, dispatch records and events, its idempotency key, and the job record.
 *
 * Only the tenant's own objects are removed: outputs under outputs/<tenant>/<job>/, the two report objects, and
 * source keys under uploads/<tenant>/ in the cluster's bucket. Objects of other buckets or other prefixes the job
 * merely read are left alone, and so is an upload that a job still open uses too (a retry, or a run again with
 * other options): it goes when the last job using it is deleted.
 */
import {
  CHUNKS_BUCKET,
  EVENTS_STREAM,
  eventSubject,
  keys,
  type Logger,
  RESULTS_BUCKET,
  type Storage,
  StorageError,
} from "@imgc/common";
import type { Job } from "@imgc/proto";
import type { JetStreamManager } from "nats";
import { type Fence, unfenced } from "../leadership/fence.js";
import { type Catalog, isOwnUpload } from "./catalog.js";
import type { ChunkStore } from "./chunk-store.js";
import type { Idempotency } from "./idempotency.js";
import type { JobStore } from "./job-store.js";
import { purgeKeys } from "./kv.js";
import type { Lifecycle } from "./lifecycle.js";
import { PARTS_BUCKET } from "./part-store.js";
import type { ResultStore } from "./result-store.js";

export interface JobDeletionDeps {
  jobs: JobStore;
  chunks: ChunkStore;
  catalog: Catalog;
  idempotency: Idempotency;
  lifecycle: Lifecycle;
  results: ResultStore;
  jsm: JetStreamManager;
  /** The KV bucket of the chunks' dispatch records. */
  dispatchBucket: string;
  /** Chunks of the job still waiting for release are taken out of line, so none is published after the purge. */
  dispatcher?: { drop(jobId: string): void };
  storage: Pick<Storage, "bucket" | "list" | "remove" | "stat">;
  log: Logger;
  fence?: Fence;
}

const REMOVE_CONCURRENCY = 16;

export function createJobDeletion(deps: JobDeletionDeps) {
  const { jobs, chunks, catalog, lifecycle, storage, log } = deps;
  const fence = deps.fence ?? unfenced;

  /** The tenant's upload keys the job's items read, in the cluster's bucket. */
  async function uploadsOf(job: Job): Promise<Set<string>> {
    const own = keys.uploadPrefix(job.tenant);
    const found = new Set<string>();
    for (const item of (await catalog.items(job.id)).values()) {
      if (isOwnUpload(job.tenant, item, storage.bucket)) found.add(item.key);
    }
    // Items refused at SubmitJob (an upload larger than its slot declared) are in no chunk; their results, made
    // by the coordinator (no worker id), name the upload. A worker's result is not trusted to name a source.
    for (const result of await deps.results.all(job.id)) {
      if (!result.workerId && result.sourceKey.startsWith(own)) found.add(result.sourceKey);
    }
    return found;
  }

  /** Upload keys that jobs still open (other than `jobId`) read: they stay until those jobs are deleted too. */
  async function inUse(jobId: string): Promise<Set<string>> {
    const used = new Set<string>();
    for (const id of lifecycle.openJobIds()) {
      if (id === jobId) continue;
      for (const item of (await catalog.items(id)).values()) used.add(item.key);
    }
    return used;
  }

  /** Removes the keys; `check`: only those that exist (uploads another deletion took already). Answers how many. */
  async function removeAll(keyList: readonly string[], check = false): Promise<number> {
    let next = 0;
    let removed = 0;
    const worker = async () => {
      while (next < keyList.length) {
        const key = keyList[next++] as string;
        if (check && !(await exists(key))) continue;
        fence.check();
        await storage.remove(key);
        removed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(REMOVE_CONCURRENCY, keyList.length) }, worker));
    return removed;
  }

  async function exists(key: string): Promise<boolean> {
    try {
      await storage.stat(key);
      return true;
    } catch (err) {
      if (StorageError.isNotFound(err)) return false;
      throw err;
    }
  }

  async function listed(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const object of storage.list(prefix)) found.push(object.key);
    return found;
  }

  return {
    /** Deletes the job and its data; answers how many objects were removed from the store. */
    async remove(job: Job): Promise<number> {
      fence.check();
      if (lifecycle.isOpen(job.id)) await lifecycle.cancel(job.id, catalog.allAsPending);
      deps.dispatcher?.drop(job.id);
      const used = await inUse(job.id);
      const uploads = [...(await uploadsOf(job))].filter((key) => !used.has(key));
      const outputs = await listed(keys.outputPrefix(job.tenant, job.id));
      // Listing the reports finds them whatever their extension, and counts only the ones that exist.
      const reports = await listed(keys.report(job.tenant, job.id, "json").replace(/json$/, ""));
      const removed = (await removeAll([...outputs, ...reports])) + (await removeAll(uploads, true));

      fence.check();
      await Promise.all([
        purgeKeys(deps.jsm, RESULTS_BUCKET, `${job.id}.>`),
        purgeKeys(deps.jsm, CHUNKS_BUCKET, `${job.id}.>`),
        purgeKeys(deps.jsm, deps.dispatchBucket, `${job.id}.>`),
        // A job of several tasks keeps each task's result of an item as a part until it ends (a deletion may
        // come first).
        purgeKeys(deps.jsm, PARTS_BUCKET, `${job.id}.>`),
        deps.jsm.streams.purge(EVENTS_STREAM, { filter: eventSubject(job.id) }),
      ]);
      chunks.forget(job.id, job.chunkCount);
      if (job.idempotencyKey) await deps.idempotency.release(job.tenant, job.idempotencyKey, job.id);
      await jobs.remove(job.id);
      log.info({ jobId: job.id, tenant: job.tenant, objects: removed }, "job deleted");
      return removed;
    },
  };
}

export type JobDeletion = ReturnType<typeof createJobDeletion>;
