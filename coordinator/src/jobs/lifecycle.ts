/**
 * The life of a job after it was accepted: results come in, counters move, and when every item has a result
 * the job ends (state, report objects, webhook, final event).
 *
 * Every job that has not ended is "open": it has a ledger in memory. Results are written to KV first (with
 * `create`, so the first terminal result of an item wins), then counted in the ledger under the job's lock,
 * then the counters are written into the job record with compare-and-set. A crash between the steps loses
 * nothing: `open` re-derives the ledger from the results bucket.
 *
 * A job with several tasks (compress and detect) gets one report per task and item: each is stored as a part
 * first (KV `imgc-parts`, `create` again), and the item's result is written when its last part comes, merged
 * from them all (merge.ts). `open` finds parts whose merge a crash interrupted and merges them.
 */
import { clone, create, toJson } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { keys, type Logger, pool, retry, type Storage, traceFields } from "@imgc/common";
import {
  ErrorCode,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  type Job,
  JobCountsSchema,
  JobSchema,
  JobState,
  reportCsv,
  TaskKind,
} from "@imgc/proto";
import { isNotLeader } from "../leadership/fence.js";
import { jobTasks } from "../validate.js";
import type { Events } from "./events.js";
import { finalState } from "./job-states.js";
import type { JobStore } from "./job-store.js";
import { JobLedger } from "./ledger.js";
import { createLocks } from "./locks.js";
import type { PartStore } from "./part-store.js";
import { reportJson } from "./report.js";
import type { ResultStore } from "./result-store.js";
import { expiresAt, type RetentionPolicy } from "./retention.js";
import type { Webhooks } from "./webhook.js";

export interface LifecycleDeps {
  jobs: JobStore;
  results: ResultStore;
  /** Each task's result of an item, for jobs with several tasks. */
  parts: PartStore;
  events: Events;
  storage: Pick<Storage, "putBuffer">;
  webhooks: Webhooks;
  log: Logger;
  /** Least time between two progress events (the job with its counters) of one job. */
  progressEveryMs?: number;
  /** Told of every first terminal result and every ended job (metrics). */
  observer?: LifecycleObserver;
  /** Tells every worker that a job was cancelled (a NATS broadcast), so that they stop its running items. */
  announceCancel?(jobId: string): void;
  /** When an ended job expires; without it, never. */
  retention?: RetentionPolicy;
}

export interface LifecycleObserver {
  recorded(results: readonly ItemResult[]): void;
  ended(job: Job): void;
}

interface OpenJob {
  job: Job;
  /** The KV revision of `job` as this process last wrote it (0: not written yet). */
  revision: number;
  ledger: JobLedger;
  lastProgressAt: number;
  /** The ledger moved since the job record was last written. */
  dirty: boolean;
  /** The write in progress, which also covers every change made while it runs. */
  flushing: Promise<void> | undefined;
}

const RECORD_CONCURRENCY = 32;

/** `write` applied to every result, RECORD_CONCURRENCY at a time; what each returned, in order. */
async function inParallel(list: readonly ItemResult[], write: (result: ItemResult) => Promise<boolean>) {
  const out: boolean[] = new Array(list.length).fill(false);
  await pool(list, RECORD_CONCURRENCY, async (result, at) => {
    out[at] = await write(result);
  });
  return out;
}

/** How far back a new leader republishes item events (well inside IMGC_EVENTS' 2-minute duplicate window). */
const REPLAY_MS = 60_000;
/** The most items a cancel announces one by one; a bigger cancel is told by the job's event alone. */
const CANCEL_EVENTS_MAX = 64;

export function createLifecycle(deps: LifecycleDeps) {
  const { jobs, results, parts, events, log } = deps;
  const progressEveryMs = deps.progressEveryMs ?? 1_000;
  const open = new Map<string, OpenJob>();
  const withLock = createLocks();

  /** Rewrites the job record from the ledger (and `mutate`); keeps the open copy current. */
  async function save(entry: OpenJob, mutate?: (job: Job) => void): Promise<Job> {
    const updated = await jobs.update(
      entry.job.id,
      (job) => {
        entry.ledger.applyTo(job);
        mutate?.(job);
      },
      entry.revision > 0 ? { value: entry.job, revision: entry.revision } : undefined,
    );
    if (!updated) throw new Error(`job ${entry.job.id} vanished from KV`);
    entry.job = updated.value;
    entry.revision = updated.revision;
    return entry.job;
  }

  /**
   * Writes the ledger into the job record, in the background: an open job's counters are answered from memory,
   * and a new leader re-derives them from the results, so no report waits for this write (it is for followers
   * and for `GetJob` after the job ends, which `finish` writes whole). Reports arrive many at a time: while one
   * write runs, the next ones only mark the job dirty, and a single following write covers them all.
   */
  function flush(entry: OpenJob): void {
    entry.dirty = true;
    if (entry.flushing) return;
    entry.flushing = (async () => {
      try {
        while (entry.dirty) {
          entry.dirty = false;
          // An ended job's record is final: a write queued behind its end has nothing left to say.
          await withLock(entry.job.id, async () => {
            if (open.get(entry.job.id) === entry) await save(entry, markRunning);
          });
        }
      } catch (err) {
        // The next report writes again; the job's end writes the counters whole in any case.
        entry.dirty = true;
        if (!isNotLeader(err)) log.warn({ err, jobId: entry.job.id }, "could not write the job's counters");
      } finally {
        entry.flushing = undefined;
      }
    })();
  }

  /** An open job as it is now: the record with the ledger's live counters. */
  function current(entry: OpenJob): Job {
    const job = clone(JobSchema, entry.job);
    entry.ledger.applyTo(job);
    return job;
  }

  function markRunning(job: Job): void {
    if (job.state !== JobState.QUEUED) return;
    job.state = JobState.RUNNING;
    job.startedAt = timestampNow();
  }

  async function writeReport(job: Job): Promise<string> {
    const all = await results.all(job.id);
    const jsonKey = keys.report(job.tenant, job.id, "json");
    try {
      return await retry(
        async () => {
          await deps.storage.putBuffer(keys.report(job.tenant, job.id, "csv"), Buffer.from(reportCsv(all)), "text/csv");
          await deps.storage.putBuffer(jsonKey, Buffer.from(reportJson(job, all)), "application/json");
          return jsonKey;
        },
        { retryable: () => true, attempts: 3, firstDelayMs: 500 },
      );
    } catch (err) {
      log.error({ err, jobId: job.id }, "could not write the job report");
      return "";
    }
  }

  /** Ends a job in the background, trying again while this process leads and the job is still open. */
  function finishSoon(jobId: string): void {
    const retryable = (err: unknown, attempt: number) => {
      if (isNotLeader(err) || !open.has(jobId)) return false;
      log.warn({ err, jobId, attempt }, "could not end the job; trying again");
      return true;
    };
    const finish = async () => {
      if (open.has(jobId)) await lifecycle.finish(jobId);
    };
    // Given up only when this process no longer leads or the job is no longer open: nothing left to do.
    void retry(finish, { retryable, firstDelayMs: 500 }).catch(() => {});
  }

  /**
   * Records items' results; returns, for each, whether it was the item's first. A job whose last item this was
   * ends. Each first result is announced (an item event) before the job's end is, unless `announce` is false.
   */
  async function recordResults(entry: OpenJob, list: readonly ItemResult[], announce = true): Promise<boolean[]> {
    const jobId = entry.job.id;
    const accepted = await inParallel(list, (result) => results.record(jobId, result));
    // A result can be in KV and not counted: its write went through but the answer was lost (NATS restarted
    // mid-request), and the retry found the key taken. The stored result is the item's: count it now, or the
    // job would wait forever for an item that has its result.
    const orphans = list.filter((result, at) => !accepted[at] && !entry.ledger.has(result.itemId));
    const adopted = await Promise.all(orphans.map((result) => results.get(jobId, result.itemId)));
    const fresh = [
      ...list.filter((_, at) => accepted[at]),
      ...adopted.filter((result): result is ItemResult => result !== null),
    ];
    if (fresh.length === 0) return accepted;
    deps.observer?.recorded(fresh);

    let moved = false;
    for (const result of fresh) moved = entry.ledger.add(result) || moved;
    if (!moved) return accepted;
    flush(entry);
    // Every item's end, however big the batch: a watcher counts on seeing each one before the job's end.
    if (announce) await Promise.all(fresh.map((result) => events.item(jobId, result)));
    const now = Date.now();
    if (now - entry.lastProgressAt >= progressEveryMs && !entry.ledger.complete) {
      entry.lastProgressAt = now;
      await events.job(current(entry));
    }
    // The job's end (report objects in S3, the final event, the webhook) is not the last reporter's to wait for.
    if (entry.ledger.complete) finishSoon(jobId);
    return accepted;
  }

  /**
   * Counts into `ledger` the results a job already has in KV; returns the items whose every part is in but whose
   * merged result is not (a crash between the two writes), to be recorded.
   */
  async function recover(jobId: string, ledger: JobLedger): Promise<ItemResult[]> {
    const stored = await results.stored(jobId);
    for (const { result } of stored) ledger.add(result);
    const merged = ledger.split
      ? (await parts.all(jobId)).flatMap(({ kind, result }) => ledger.addPart(kind, result) ?? [])
      : [];
    // A leader that died between storing a result and publishing its item event left watchers without it.
    // Such results are seconds old: publish their events again; the stream drops the ones it already has
    // (each item's end has one message id, and its duplicate window outlasts REPLAY_MS).
    const since = Date.now() - REPLAY_MS;
    await Promise.all(
      stored.filter((entry) => entry.storedAt >= since).map((entry) => events.item(jobId, entry.result)),
    );
    return merged;
  }

  const lifecycle = {
    /** The job as it is now: open jobs come from memory with live counters, ended ones from KV. */
    async get(jobId: string): Promise<Job | null> {
      const entry = open.get(jobId);
      if (entry) return current(entry);
      return (await jobs.get(jobId))?.value ?? null;
    },

    /**
     * An open job's record as this process last wrote it, not a copy: for its state, tenant, priority and options
     * on the per-chunk path, where `get`'s copy with live counters would cost more than the claim itself. Its
     * counters lag. Never change it.
     */
    peek(jobId: string): Readonly<Job> | undefined {
      return open.get(jobId)?.job;
    },

    isOpen(jobId: string): boolean {
      return open.has(jobId);
    },

    isCancelled(jobId: string): boolean {
      return open.get(jobId)?.job.state === JobState.CANCELLED;
    },

    ledger(jobId: string): JobLedger | undefined {
      return open.get(jobId)?.ledger;
    },

    openJobIds(): string[] {
      return [...open.keys()];
    },

    /**
     * Opens a job that has not ended: its ledger is derived from the results bucket, so counters are right
     * whatever happened before (a job resumed after a crash). A job just accepted passes `created`: its record's
     * revision and the results its acceptance wrote. Nothing else can be stored yet, so there is nothing to read.
     */
    async open(job: Job, created?: { revision: number; results: readonly ItemResult[] }): Promise<OpenJob> {
      const ledger = new JobLedger(job.counts?.total ?? 0, jobTasks(job.tasks));
      let merged: ItemResult[] = [];
      if (created) for (const result of created.results) ledger.add(result);
      else merged = await recover(job.id, ledger);
      const entry: OpenJob = {
        job,
        revision: created?.revision ?? 0,
        ledger,
        lastProgressAt: 0,
        dirty: false,
        flushing: undefined,
      };
      open.set(job.id, entry);
      // A job just created is in KV as written, unless its acceptance found sources missing (failed items).
      if (!created || created.results.length > 0) await withLock(job.id, () => save(entry));
      if (merged.length > 0) await recordResults(entry, merged);
      return entry;
    },

    /**
     * Records terminal results: of the item when `kind` is not given (or the job has one task), of that task
     * otherwise. Returns, for each, whether it was the first. A job whose last item this was ends.
     */
    async record(jobId: string, list: readonly ItemResult[], kind?: TaskKind): Promise<boolean[]> {
      const entry = open.get(jobId);
      if (!entry) return list.map(() => false);
      if (kind === undefined || !entry.ledger.split) return recordResults(entry, list);
      const accepted = await inParallel(list, (result) => parts.record(jobId, kind, result));
      // As for results: a part in KV but not in the ledger (a lost answer) is the task's; adopt it.
      const orphans = list.filter((result, at) => !accepted[at] && !entry.ledger.hasTask(result.itemId, kind));
      const adopted = await Promise.all(orphans.map((result) => parts.get(jobId, result.itemId, kind)));
      const fresh = [
        ...list.filter((_, at) => accepted[at]),
        ...adopted.filter((result): result is ItemResult => result !== null),
      ];
      const merged = fresh.flatMap((result) => entry.ledger.addPart(kind, result) ?? []);
      if (merged.length > 0) await recordResults(entry, merged);
      return accepted;
    },

    /** A worker took these items: the job is RUNNING from now. */
    async started(jobId: string, chunkIndex: number, itemIds: readonly string[]): Promise<void> {
      const entry = open.get(jobId);
      if (!entry) return;
      entry.ledger.claim(chunkIndex, itemIds);
      if (entry.job.state !== JobState.QUEUED || itemIds.length === 0) return;
      // Only the first claim moves the job, and only it says so. The record follows in the background, as the
      // counters do (a flush writes what `markRunning` did here, and does it again on a record read afresh).
      markRunning(entry.job);
      flush(entry);
      await events.job(current(entry));
    },

    /**
     * A worker began these items: one RUNNING item event each (worker and start time), so that watchers see
     * what runs now; a detection's start carries an (empty) detection naming its worker, so that a watcher can
     * tell which task runs. Items that already have a result are skipped.
     */
    async running(
      jobId: string,
      workerId: string,
      itemIds: readonly string[],
      sourceKeyOf: (itemId: string) => string,
      kind: TaskKind = TaskKind.COMPRESS,
    ) {
      const entry = open.get(jobId);
      if (!entry || entry.job.state === JobState.CANCELLED) return;
      const startedAt = timestampNow();
      await Promise.all(
        itemIds
          .filter((itemId) => !entry.ledger.has(itemId))
          .map((itemId) =>
            events.item(
              jobId,
              create(ItemResultSchema, {
                itemId,
                sourceKey: sourceKeyOf(itemId),
                state: ItemState.RUNNING,
                workerId,
                startedAt,
                ...(kind === TaskKind.DETECT ? { detection: { workerId } } : {}),
              }),
            ),
          ),
      );
    },

    /** The chunk's items are no longer held by a worker (completed, released, or the worker died). */
    released(jobId: string, chunkIndex: number): void {
      open.get(jobId)?.ledger.release(chunkIndex);
    },

    /**
     * Sets the job's notice (why it waits, for people; empty for none): written and announced (a job event)
     * only when it changed.
     */
    async setNotice(jobId: string, notice: string): Promise<void> {
      const entry = open.get(jobId);
      if (!entry || entry.job.notice === notice) return;
      const job = await withLock(jobId, () => save(entry, (job) => (job.notice = notice)));
      await events.job(clone(JobSchema, job));
    },

    /** Ends a job whose items all have results: final state, report objects, webhook, final event. */
    async finish(jobId: string): Promise<Job | null> {
      const ended = await withLock(jobId, async () => {
        const entry = open.get(jobId);
        if (!entry?.ledger.complete) return null;
        const state = finalState(
          { total: entry.ledger.total, failed: entry.ledger.failed },
          entry.job.state === JobState.CANCELLED,
        );
        const draft = clone(JobSchema, entry.job);
        entry.ledger.applyTo(draft);
        draft.state = state;
        draft.finishedAt = timestampNow();
        const reportKey = await writeReport(draft);
        const expires = deps.retention && draft.finishedAt && expiresAt(draft, draft.finishedAt, deps.retention);
        const job = await save(entry, (job) => {
          job.state = state;
          job.finishedAt = draft.finishedAt;
          job.reportKey = reportKey;
          if (expires) job.expiresAt = expires;
          // An ended job waits for nothing.
          job.notice = "";
        });
        open.delete(jobId);
        // The parts are merged into the results now; a purge that fails leaves only dead entries behind.
        if (entry.ledger.split) {
          parts.purge(jobId).catch((err: unknown) => log.warn({ err, jobId }, "could not purge the job's parts"));
        }
        return job;
      });
      if (!ended) return null;
      await retry(() => events.job(ended), { retryable: () => true, attempts: 5 }).catch((err: unknown) =>
        log.error({ err, jobId }, "could not publish the final job event"),
      );
      void deps.webhooks.notify(ended);
      deps.observer?.ended(ended);
      log.info(
        {
          jobId,
          state: JobState[ended.state],
          counts: ended.counts && toJson(JobCountsSchema, ended.counts),
          ...traceFields(ended.traceParent),
        },
        "job ended",
      );
      return ended;
    },

    /**
     * Cancels an open job: it is CANCELLED at once (claims and reports answer "cancelled" from now), the workers
     * are told to stop its running items, then every item without a result (running ones too) fails CANCELLED
     * and the job ends.
     */
    async cancel(jobId: string, itemsOf: (jobId: string) => Promise<ItemResult[]>): Promise<Job | null> {
      const entry = open.get(jobId);
      if (!entry) return null;
      if (entry.job.state !== JobState.CANCELLED) {
        const job = await withLock(jobId, () => save(entry, (job) => (job.state = JobState.CANCELLED)));
        await events.job(clone(JobSchema, job));
      }
      // Only now: a worker told earlier could complete a chunk that the coordinator does not yet see cancelled.
      deps.announceCancel?.(jobId);
      const missing = (await itemsOf(jobId))
        .filter((item) => !entry.ledger.has(item.itemId))
        .map((item) =>
          create(ItemResultSchema, {
            itemId: item.itemId,
            sourceKey: item.sourceKey,
            state: ItemState.FAILED,
            errorCode: ErrorCode.CANCELLED,
            errorMessage: "the job was cancelled before this item ran",
          }),
        );
      // A cancel of 10 000 items is one job event, not 10 000 item events.
      await recordResults(entry, missing, missing.length <= CANCEL_EVENTS_MAX);
      // Every item already had a result: nothing above ended the job.
      return (await lifecycle.finish(jobId)) ?? lifecycle.get(jobId);
    },
  };
  return lifecycle;
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
