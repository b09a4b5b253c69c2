/**
 * imgc.v1.JobService for internal callers (the gateway serves it to the public and forwards here). Every RPC
 * is scoped to the caller's tenant: another tenant's job is NotFound.
 */
import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { continueTrace, formatTraceparent, keys, type Logger, quoted, type Storage, TRACEPARENT } from "@imgc/common";
import {
  type ChunkItem,
  ChunkItemSchema,
  CompressionOptionsSchema,
  type ItemResult,
  ItemState,
  isJobId,
  type Job,
  JobEventSchema,
  type JobService,
  JobState,
  outputFileName,
  Priority,
  type RetryJobRequest,
  type Source,
  SourceSchema,
  SubmitJobRequestSchema,
  UploadSlotSchema,
} from "@imgc/proto";
import { itemId, itemPosition, randomId } from "../ids.js";
import type { JobAcceptor } from "../jobs/accept-job.js";
import { type Catalog, isOwnUpload, pendingResult } from "../jobs/catalog.js";
import type { Events } from "../jobs/events.js";
import type { JobDeletion } from "../jobs/job-deletion.js";
import type { JobStore } from "../jobs/job-store.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
import type { ResultStore } from "../jobs/result-store.js";
import { callerIdentity, tenantOf } from "../tenant.js";
import { optionProblems, type SourceScope, validateSubmit } from "../validate.js";
import { createGuard, notFound } from "./errors.js";
import { filteredPage, STATE_SCAN_MAX } from "./result-pages.js";

export interface JobServiceDeps {
  log?: Logger;
  acceptor: JobAcceptor;
  lifecycle: Lifecycle;
  deletion: JobDeletion;
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
/** The most item ids one GetResults or RetryJob may name. */
const MAX_ITEM_IDS = 1_000;
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

/** The ids given, as positions of the job's items in item order; ids the job does not have are left out. */
function positionsOf(itemIds: readonly string[], total: number): number[] {
  const positions = new Set<number>();
  for (const id of itemIds) {
    const position = itemPosition(id);
    if (position >= 0 && position < total) positions.add(position);
  }
  return [...positions].sort((a, b) => a - b);
}

function checkItemIds(itemIds: readonly string[]): void {
  if (itemIds.length > MAX_ITEM_IDS) {
    throw new ConnectError(
      `item_ids: expected at most ${MAX_ITEM_IDS} ids but received ${itemIds.length}`,
      Code.InvalidArgument,
    );
  }
}

/** The same retry (job, items, options, priority) always derives the same idempotency key. */
function retryKey(request: RetryJobRequest): string {
  const hash = createHash("sha256")
    .update(request.jobId)
    .update("\n")
    .update([...new Set(request.itemIds)].sort().join(","))
    .update("\n")
    .update(request.options ? toBinary(CompressionOptionsSchema, request.options) : new Uint8Array())
    .update(`\n${request.priority}`);
  return `retry:${request.jobId}:${hash.digest("base64url")}`;
}

/**
 * The source an item is read from again: an object of the cluster's bucket by its key (uploads, and the copies of
 * fetched URLs), an object of another bucket by its key as prefix, and an item that never reached a worker (its
 * URL was not fetched, its upload was missing) by what it named.
 */
function retrySource(bucket: string, item: ChunkItem | undefined, result: ItemResult | undefined): Source {
  if (item && item.bucket !== "" && item.bucket !== bucket) {
    return create(SourceSchema, { kind: { case: "s3Prefix", value: { bucket: item.bucket, prefix: item.key } } });
  }
  const key = item?.key ?? result?.sourceKey ?? "";
  if (/^https?:\/\//i.test(key)) return create(SourceSchema, { kind: { case: "url", value: key } });
  return create(SourceSchema, { kind: { case: "uploadKey", value: key } });
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

  /** The items' results in the order given; an item without one yet is PENDING, or RUNNING while a worker holds it. */
  async function resultsOf(jobId: string, ids: readonly string[]): Promise<ItemResult[]> {
    const found = await results.many(jobId, ids);
    const ledger = lifecycle.ledger(jobId);
    const missing = ids.some((id) => !found.has(id));
    const items = missing ? await catalog.items(jobId) : new Map<string, ChunkItem>();
    return ids.map((id) => {
      const result = found.get(id);
      if (result) return result;
      const state = ledger?.isRunning(id) ? ItemState.RUNNING : ItemState.PENDING;
      return pendingResult(items.get(id) ?? create(ChunkItemSchema, { itemId: id }), state);
    });
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
      return guarded(() => deps.acceptor.submit(tenant, request, trace, context.signal));
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
      return guarded(async () => ({ job: (await lifecycle.cancel(job.id, catalog.allAsPending)) ?? job }));
    },

    async retryJob(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      if (!job.finishedAt || lifecycle.isOpen(job.id)) {
        throw new ConnectError(
          `job ${job.id} has not ended; wait for it to end or cancel it first`,
          Code.FailedPrecondition,
        );
      }
      checkItemIds(request.itemIds);
      const problems = request.options ? optionProblems(request.options) : [];
      if (!(request.priority in Priority)) problems.push(`priority: unknown value ${request.priority}`);
      if (problems.length > 0) throw new ConnectError(problems.join("; "), Code.InvalidArgument);
      const total = job.counts?.total ?? 0;
      const unknown = request.itemIds.find((id) => !(itemPosition(id) >= 0 && itemPosition(id) < total));
      if (unknown !== undefined) {
        throw new ConnectError(
          `item_ids: job ${job.id} has no item ${JSON.stringify(unknown.slice(0, 32))}`,
          Code.InvalidArgument,
        );
      }
      return guarded(async () => {
        const chosen =
          request.itemIds.length > 0
            ? [...(await results.many(job.id, positionsOf(request.itemIds, total).map(itemId))).values()]
            : (await results.all(job.id)).filter((result) => result.state === ItemState.FAILED);
        if (chosen.length === 0) {
          throw new ConnectError(
            request.itemIds.length > 0
              ? `nothing to retry: none of the items named has ended in job ${job.id}`
              : `nothing to retry: job ${job.id} has no failed items`,
            Code.InvalidArgument,
          );
        }
        const items = await catalog.items(job.id);
        const retry = create(SubmitJobRequestSchema, {
          sources: chosen.map((result) => retrySource(storage.bucket, items.get(result.itemId), result)),
          priority: request.priority === Priority.UNSPECIFIED ? job.priority : request.priority,
          idempotencyKey: retryKey(request),
          label: `retry of ${job.label || job.id}`.slice(0, 256),
          webhookUrl: job.webhookUrl,
          tasks: job.tasks,
          retentionDays: job.retentionDays,
          ...(job.detection ? { detection: job.detection } : {}),
          ...((request.options ?? job.options) ? { options: request.options ?? job.options } : {}),
        });
        const trace = formatTraceparent(continueTrace(context.requestHeader.get(TRACEPARENT)));
        return deps.acceptor.submit(job.tenant, retry, trace, context.signal, { retryOf: job.id });
      });
    },

    async deleteJob(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      return guarded(async () => ({ objectsDeleted: await deps.deletion.remove(job) }));
    },

    async getResults(request, context) {
      const job = await guarded(() => ownJob(request.jobId, context));
      const size = pageSize(request.pageSize, 100, 1_000);
      if (request.pageToken && !/^\d{1,9}$/.test(request.pageToken)) {
        throw new ConnectError("page_token: not a token from a previous page", Code.InvalidArgument);
      }
      checkItemIds(request.itemIds);
      const unknownState = request.states.find((state) => !(state in ItemState) || state === ItemState.UNSPECIFIED);
      if (unknownState !== undefined) {
        throw new ConnectError(`states: unknown value ${unknownState}`, Code.InvalidArgument);
      }
      const total = job.counts?.total ?? 0;
      // The items asked for, by position: the ids named (read alone, never the whole job), or every item.
      const named = request.itemIds.length > 0 ? positionsOf(request.itemIds, total) : undefined;
      const count = named ? named.length : total;
      const positionAt = (at: number) => (named ? (named[at] as number) : at);
      const states = new Set(request.states);
      const outputPrefix = keys.outputPrefix(job.tenant, job.id);
      return guarded(async () => {
        // The originals come from the job's own records (its catalog), never from a result, which a worker wrote.
        const sources = request.includeSourceUrls ? await catalog.items(job.id) : undefined;
        const { page, next } = await filteredPage({
          count,
          cursor: Number(request.pageToken || "0"),
          size,
          scanMax: states.size > 0 ? STATE_SCAN_MAX : size,
          read: (from, to) =>
            resultsOf(
              job.id,
              Array.from({ length: to - from }, (_, i) => itemId(positionAt(from + i))),
            ),
          keep: (result) => states.size === 0 || states.has(result.state),
        });
        const withUrls = await Promise.all(
          page.map(async (result) => {
            const downloadable = result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL;
            // Only the job's own outputs are presigned, whatever a worker reported.
            if (request.includeUrls && downloadable && result.outputKey.startsWith(outputPrefix)) {
              result.downloadUrl = await storage.presignGet(
                result.outputKey,
                deps.urlTtlS,
                outputFileName(result.sourceKey, result),
              );
            }
            const item = sources?.get(result.itemId);
            if (item && isOwnUpload(job.tenant, item, storage.bucket))
              result.sourceUrl = await storage.presignGet(item.key, deps.urlTtlS);
            return result;
          }),
        );
        return { results: withUrls, nextPageToken: next < count ? String(next) : "", job };
      });
    },
  };
}
