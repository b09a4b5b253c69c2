/**
 * imgc.v1.JobService for internal callers (the gateway serves it to the public and forwards here). Every RPC
 * is scoped to the caller's tenant: another tenant's job is NotFound.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { continueTrace, formatTraceparent, keys, type Logger, quoted, type Storage, TRACEPARENT } from "@imgc/common";
import {
  ChunkItemSchema,
  type ItemResult,
  ItemState,
  isJobId,
  type Job,
  JobEventSchema,
  type JobService,
  JobState,
  UploadSlotSchema,
} from "@imgc/proto";
import { itemId, randomId } from "../ids.js";
import type { Catalog } from "../jobs/catalog.js";
import { pendingResult } from "../jobs/catalog.js";
import type { Events } from "../jobs/events.js";
import type { JobStore } from "../jobs/job-store.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
import type { ResultStore } from "../jobs/result-store.js";
import type { Submitter } from "../scheduler/submit.js";
import { callerIdentity, tenantOf } from "../tenant.js";
import { type SourceScope, validateSubmit } from "../validate.js";
import { createGuard, notFound } from "./errors.js";

export interface JobServiceDeps {
  log?: Logger;
  submitter: Submitter;
  lifecycle: Lifecycle;
  jobs: JobStore;
  results: ResultStore;
  catalog: Catalog;
  events: Events;
  storage: Pick<Storage, "bucket" | "presignGet" | "presignPut">;
  /** Lifetime of presigned URLs, in seconds. */
  urlTtlS: number;
  /** How often an idle WatchJob checks that its job has not ended without a final event. */
  watchCheckMs?: number;
  /** Aborted when the coordinator shuts down: open WatchJob streams end, and clients resume elsewhere. */
  closing?: AbortSignal;
  /** Which sources a caller may name, by its authenticated identity (every tenant: its own folders). */
  sourceScope?: (identity: string | undefined) => SourceScope;
}

const UPLOAD_MAX_FILES = 1_000;
const UPLOAD_MAX_BYTES = 5 * 1024 ** 3;

function pageSize(requested: number, fallback: number, max: number): number {
  if (requested === 0) return fallback;
  if (requested > max) {
    throw new ConnectError(`page_size: expected 1 to ${max} but received ${requested}`, Code.InvalidArgument);
  }
  return requested;
}

function raceIdle<T>(next: Promise<T>, ms: number): Promise<T | "idle"> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<"idle">((resolve) => {
    timer = setTimeout(() => resolve("idle"), ms);
  });
  return Promise.race([next, idle]).finally(() => clearTimeout(timer));
}

function extension(key: string): string {
  const match = /\.([A-Za-z0-9]+)$/.exec(key);
  return match ? (match[1] as string) : "";
}

/** "photos/cat.png" compressed to ".../000001.webp" downloads as "cat.webp". */
function downloadName(result: ItemResult): string {
  const base = (result.sourceKey.split("/").pop() ?? result.itemId).replace(/\.[^.]*$/, "") || result.itemId;
  const ext = extension(result.outputKey);
  return ext ? `${base}.${ext}` : base;
}

export function createJobService(deps: JobServiceDeps): ServiceImpl<typeof JobService> {
  const { lifecycle, jobs, results, catalog, events, storage } = deps;
  const watchCheckMs = deps.watchCheckMs ?? 5_000;
  const guarded = createGuard(deps.log);

  /** The tenant's job, or NotFound: a job of another tenant does not exist for this caller. */
  async function ownJob(jobId: string, context: HandlerContext): Promise<Job> {
    const tenant = tenantOf(context);
    if (!isJobId(jobId)) throw notFound(`job ${quoted(jobId)}`);
    const job = await lifecycle.get(jobId);
    if (!job || job.tenant !== tenant) throw notFound(`job ${jobId}`);
    return job;
  }

  return {
    async createUploads(request, context) {
      const tenant = tenantOf(context);
      if (request.files.length === 0 || request.files.length > UPLOAD_MAX_FILES) {
        throw new ConnectError(`files: expected 1 to ${UPLOAD_MAX_FILES} files`, Code.InvalidArgument);
      }
      for (const [i, file] of request.files.entries()) {
        if (file.size > BigInt(UPLOAD_MAX_BYTES)) {
          throw new ConnectError(`files[${i}].size: at most ${UPLOAD_MAX_BYTES} bytes`, Code.InvalidArgument);
        }
      }
      return guarded(async () => {
        const expiresAt = timestampFromMs(Date.now() + deps.urlTtlS * 1000);
        const slots = await Promise.all(
          request.files.map(async (file) => {
            const key = keys.upload(tenant, randomId(), file.name);
            return create(UploadSlotSchema, { key, url: await storage.presignPut(key, deps.urlTtlS), expiresAt });
          }),
        );
        return { slots };
      });
    },

    async uploadImage() {
      throw new ConnectError("UploadImage is served by the gateway", Code.Unimplemented);
    },

    async submitJob(request, context) {
      const tenant = tenantOf(context);
      validateSubmit(request, tenant, storage.bucket, deps.sourceScope?.(callerIdentity(context)));
      // The job continues the caller's trace (the gateway's), or starts one for an internal caller.
      const trace = formatTraceparent(continueTrace(context.requestHeader.get(TRACEPARENT)));
      // The call's signal: once the caller is gone, the job's URLs stop being fetched and no job is made.
      return guarded(() => deps.submitter.submit(tenant, request, trace, context.signal));
    },

    async getJob(request, context) {
      return { job: await guarded(() => ownJob(request.jobId, context)) };
    },

    async listJobs(request, context) {
      const tenant = tenantOf(context);
      const size = pageSize(request.pageSize, 50, 500);
      if (request.pageToken && !isJobId(request.pageToken)) {
        throw new ConnectError("page_token: not a token from a previous page", Code.InvalidArgument);
      }
      if (!(request.state in JobState)) {
        throw new ConnectError(`state: unknown value ${request.state}`, Code.InvalidArgument);
      }
      const state = request.state === JobState.UNSPECIFIED ? undefined : request.state;
      return guarded(async () => {
        const page = await jobs.list(tenant, state, request.pageToken, size);
        // Open jobs move faster than their KV record: show their live counters.
        const live = await Promise.all(page.jobs.map(async (job) => (await lifecycle.get(job.id)) ?? job));
        return { jobs: live, nextPageToken: page.next };
      });
    },

    async *watchJob(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      let after = Number(request.afterSequence);
      const endedEvent = (ended: Job) => ({
        event: create(JobEventSchema, { jobId: ended.id, kind: { case: "job", value: ended } }),
      });
      if (job.finishedAt && (await events.lastSequence(job.id)) <= after) {
        // Nothing left to replay (or the events have aged out): the job as it ended is the whole story.
        if (after === 0) yield endedEvent(job);
        return;
      }
      const stop = new AbortController();
      const signals = [context.signal, stop.signal, ...(deps.closing ? [deps.closing] : [])];
      const stream = events.watch(job.id, after, AbortSignal.any(signals));
      let next = stream.next();
      try {
        for (;;) {
          const outcome = await raceIdle(next, watchCheckMs);
          if (outcome === "idle") {
            // Quiet for a while: if the job ended and its final event is missing, end the stream anyway.
            const now = await lifecycle.get(job.id);
            if (now?.finishedAt && (await events.lastSequence(job.id)) <= after) {
              yield endedEvent(now);
              return;
            }
            continue;
          }
          if (outcome.done) return;
          after = Number(outcome.value.sequence);
          yield { event: outcome.value };
          next = stream.next();
        }
      } finally {
        stop.abort();
        await stream.return(undefined).catch(() => undefined);
      }
    },

    async cancelJob(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      if (!lifecycle.isOpen(job.id)) return { job };
      return guarded(async () => ({ job: (await lifecycle.cancel(job.id, catalog.pending)) ?? job }));
    },

    async retryJob() {
      throw new ConnectError("RetryJob is not served yet", Code.Unimplemented);
    },

    async deleteJob() {
      throw new ConnectError("DeleteJob is not served yet", Code.Unimplemented);
    },

    async getResults(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      const size = pageSize(request.pageSize, 100, 1_000);
      if (request.pageToken && !/^\d{1,9}$/.test(request.pageToken)) {
        throw new ConnectError("page_token: not a token from a previous page", Code.InvalidArgument);
      }
      const total = job.counts?.total ?? 0;
      const offset = Number(request.pageToken || "0");
      const outputPrefix = keys.outputPrefix(job.tenant, job.id);
      const end = Math.min(total, offset + size);
      return guarded(async () => {
        const ids = Array.from({ length: Math.max(0, end - offset) }, (_, i) => itemId(offset + i));
        const found = await results.many(job.id, ids);
        const ledger = lifecycle.ledger(job.id);
        const missing = ids.filter((id) => !found.has(id));
        const items = missing.length > 0 ? await catalog.items(job.id) : new Map();
        const page = await Promise.all(
          ids.map(async (id) => {
            const result = found.get(id);
            if (!result) {
              const item = items.get(id);
              const state = ledger?.isRunning(id) ? ItemState.RUNNING : ItemState.PENDING;
              return pendingResult(item ?? create(ChunkItemSchema, { itemId: id }), state);
            }
            const downloadable = result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL;
            // Only the job's own outputs are presigned, whatever a worker reported.
            if (request.includeUrls && downloadable && result.outputKey.startsWith(outputPrefix)) {
              result.downloadUrl = await storage.presignGet(result.outputKey, deps.urlTtlS, downloadName(result));
            }
            return result;
          }),
        );
        return { results: page, nextPageToken: end < total ? String(end) : "", job };
      });
    },
  };
}
