/**
 * Accepting a job: expand its sources into items, group them into chunks, and make it durable in an order
 * that a crash at any point leaves resumable: results of missing sources and the chunks first, then the job
 * record, then the chunks go on the stream (each recorded in KV `imgc-dispatch` once it is there).
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Logger, laneOf, sleep, traceFields } from "@imgc/common";
import {
  DetectionOptionsSchema,
  ErrorCode,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  type Job,
  JobCountsSchema,
  JobSchema,
  JobState,
  Priority,
  type SubmitJobRequest,
  TaskKind,
} from "@imgc/proto";
import type { ChunkLimits } from "../config.js";
import { itemId, newJobId } from "../ids.js";
import { FetchError } from "../net/ssrf-guard.js";
import { buildChunks, CHUNKS_PER_SLOT } from "../scheduler/chunking.js";
import type { Dispatcher } from "../scheduler/dispatcher.js";
import {
  EmptySourceError,
  expandSources,
  type SourceItem,
  type SourceStorage,
  SubmitCancelledError,
} from "../scheduler/sources.js";
import type { QuotaTicket, TenantQuotas } from "../scheduler/tenant-quota.js";
import type { UrlSources } from "../scheduler/url-sources.js";
import { jobTasks } from "../validate.js";
import type { ChunkStore } from "./chunk-store.js";
import type { Events } from "./events.js";
import type { Idempotency, Reservation } from "./idempotency.js";
import type { JobStore } from "./job-store.js";
import type { Lifecycle } from "./lifecycle.js";
import type { ResultStore } from "./result-store.js";
import { expiresAt, type RetentionPolicy } from "./retention.js";

export interface JobAcceptorDeps {
  storage: SourceStorage;
  jobs: JobStore;
  results: ResultStore;
  chunks: ChunkStore;
  idempotency: Idempotency;
  lifecycle: Lifecycle;
  dispatcher: Dispatcher;
  events: Events;
  log: Logger;
  limits: ChunkLimits;
  /** The chunk slots of the live workers now: a job is cut into at least CHUNKS_PER_SLOT chunks per slot. */
  slots?: () => number;
  /** Why a job with these tasks would wait now (no live worker can do one of them); empty when it would not. */
  notice?: (tasks: readonly TaskKind[]) => string;
  maxItems: number;
  /** The fetcher of a job's URL sources (manifests, image URLs); without it such sources fail SubmitJob. */
  urls?: (tenant: string, jobId: string) => UrlSources;
  /** The SSRF guard's check: a webhook URL it refuses fails SubmitJob rather than being dropped at the end. */
  checkUrl?: (url: string) => Promise<unknown>;
  /** Per-tenant quotas on open jobs and items; none without it. */
  quota?: TenantQuotas;
  /** How long a SubmitJob waits for the job of an idempotency key another SubmitJob is still creating. */
  reservationWaitMs?: number;
  /** When a job that ends at once (its sources hold nothing) expires; without it, never. */
  retention?: RetentionPolicy;
}

/** What a job made by the coordinator itself carries besides the request (RetryJob: the job it retries). */
export interface JobOrigin {
  retryOf?: string;
}

export interface Submitted {
  job: Job;
  created: boolean;
}

function missingResults(items: readonly SourceItem[]): ItemResult[] {
  return items.flatMap((item, position) =>
    item.missing
      ? [
          create(ItemResultSchema, {
            itemId: itemId(position),
            sourceKey: item.key,
            state: ItemState.FAILED,
            errorCode: item.failure?.code ?? ErrorCode.SOURCE_NOT_FOUND,
            errorMessage: item.failure?.message ?? `no object ${item.key} in bucket ${item.bucket}`,
          }),
        ]
      : [],
  );
}

export function createJobAcceptor(deps: JobAcceptorDeps) {
  const { jobs, results, chunks, idempotency, lifecycle, dispatcher, events, log } = deps;
  const waitMs = deps.reservationWaitMs ?? 30_000;

  /** The job a reservation points at, waiting a while for a concurrent submitter to write it. */
  async function jobOf(reservation: Reservation, tenant: string): Promise<Job | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const job = await lifecycle.get(reservation.jobId);
      if (job) return job.tenant === tenant ? job : null;
      if (Date.now() >= deadline) return null;
      await sleep(100);
    }
  }

  async function existing(tenant: string, key: string): Promise<Job | null> {
    const reservation = await idempotency.lookup(tenant, key);
    return reservation ? jobOf(reservation, tenant) : null;
  }

  /** Reserves the key for `jobId`; the job that already holds it otherwise. */
  async function reserve(tenant: string, key: string, jobId: string): Promise<Job | null> {
    for (;;) {
      const other = await idempotency.reserve(tenant, key, jobId);
      if (!other) return null;
      const job = await jobOf(other, tenant);
      if (job) return job;
      // Its submitter died before writing the job: take the key over.
      if (await idempotency.replace(tenant, key, other, jobId)) return null;
    }
  }

  return {
    /**
     * `request` is validated already; `traceParent` is the W3C trace context the job carries to its chunks.
     * `signal` is the call's: once the caller is gone, the job's URLs stop being fetched and no job is made.
     */
    async submit(
      tenant: string,
      request: SubmitJobRequest,
      traceParent = "",
      signal?: AbortSignal,
      origin: JobOrigin = {},
    ): Promise<Submitted> {
      const key = request.idempotencyKey;
      if (key) {
        const job = await existing(tenant, key);
        if (job) return { job, created: false };
      }
      const ticket = await deps.quota?.admit(tenant);
      try {
        return await accept(tenant, request, traceParent, signal, ticket, origin);
      } finally {
        ticket?.release();
      }
    },
  };

  async function accept(
    tenant: string,
    request: SubmitJobRequest,
    traceParent: string,
    signal: AbortSignal | undefined,
    ticket: QuotaTicket | undefined,
    origin: JobOrigin,
  ): Promise<Submitted> {
    const key = request.idempotencyKey;
    if (request.webhookUrl && deps.checkUrl) {
      try {
        await deps.checkUrl(request.webhookUrl);
      } catch (err) {
        // Only a refusal is final; a name that does not resolve now may by the time the job ends.
        if (err instanceof FetchError && err.failure === "refused") {
          throw new ConnectError(`webhook_url: ${err.message}`, Code.InvalidArgument);
        }
      }
    }
    const job = create(JobSchema, {
      id: newJobId(),
      tenant,
      state: JobState.QUEUED,
      priority: request.priority === Priority.UNSPECIFIED ? Priority.NORMAL : request.priority,
      createdAt: timestampNow(),
      idempotencyKey: key,
      label: request.label,
      webhookUrl: request.webhookUrl,
      traceParent,
      retentionDays: request.retentionDays,
      retryOf: origin.retryOf ?? "",
      ...(request.options ? { options: request.options } : {}),
      tasks: jobTasks(request.tasks),
    });
    if (job.tasks.includes(TaskKind.DETECT)) job.detection = request.detection ?? create(DetectionOptionsSchema, {});

    let items: SourceItem[];
    try {
      items = await expandSources(request.sources, deps.storage, deps.maxItems, deps.urls?.(tenant, job.id), signal);
    } catch (err) {
      if (err instanceof SubmitCancelledError) throw new ConnectError(err.message, Code.Canceled);
      if (!(err instanceof EmptySourceError)) throw err;
      items = [];
    }
    if (signal?.aborted) throw new ConnectError("the call was cancelled before the job was created", Code.Canceled);
    await ticket?.addItems(items.length);

    if (key) {
      const other = await reserve(tenant, key, job.id);
      if (other) return { job: other, created: false };
    }

    if (items.length === 0) {
      job.state = JobState.FAILED;
      job.error = "the sources hold no objects";
      job.counts = create(JobCountsSchema, {});
      job.finishedAt = timestampNow();
      const expires = deps.retention && expiresAt(job, job.finishedAt, deps.retention);
      if (expires) job.expiresAt = expires;
      await jobs.create(job);
      await events.job(job);
      return { job, created: true };
    }

    const slots = deps.slots?.() ?? 0;
    const limits = { ...deps.limits, minCount: Math.max(deps.limits.minCount, CHUNKS_PER_SLOT * slots), slots };
    const list = buildChunks(job, items, limits, deps.storage.bucket);
    const missing = missingResults(items);
    job.chunkCount = list.length;
    job.counts = create(JobCountsSchema, { total: items.length, pending: items.length });
    job.notice = deps.notice?.(job.tasks) ?? "";
    for (const result of missing) await results.record(job.id, result);
    await chunks.putAll(list);
    const revision = await jobs.create(job);
    if (revision === null) throw new Error(`job ${job.id} exists already`);
    await lifecycle.open(job, { revision, results: missing });
    await dispatcher.enqueue(list, laneOf(job.priority));
    const accepted = (await lifecycle.get(job.id)) ?? job;
    await events.job(accepted);
    log.info(
      {
        jobId: job.id,
        tenant,
        items: items.length,
        missing: missing.length,
        chunks: list.length,
        ...traceFields(traceParent),
      },
      "job accepted",
    );
    // Every source was missing: the job has ended already.
    if (missing.length === items.length) await lifecycle.finish(job.id);
    return { job: (await lifecycle.get(job.id)) ?? accepted, created: true };
  }
}

export type JobAcceptor = ReturnType<typeof createJobAcceptor>;
