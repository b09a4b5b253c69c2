/**
 * What every fault scenario shares: the fault-test timings, one set of small generated images (made once per
 * machine and cached on disk), a job over them, progress polling, and the check that nothing was lost.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { CHUNKS_BUCKET, decodeMessage, RESULTS_BUCKET, TASKS_STREAM } from "@imgc/common";
import {
  ChunkDispatchSchema,
  ChunkSchema,
  type CompressionOptionsSchema,
  ImageFormat,
  type ItemResult,
  type Job,
  type JobEvent,
  type JobService,
  type Priority,
} from "@imgc/proto";
import { connect, type NatsConnection } from "nats";
import sharp from "sharp";
import { expect } from "vitest";
import { type BenchResults, commitAtStart, machineNow, resultsDir, writeResults } from "../../bench/lib/results.js";
import { DISPATCH_BUCKET } from "../../coordinator/src/coordinator.js";
import { resultKey } from "../../coordinator/src/ids.js";
import { snapshot } from "../../coordinator/src/jobs/kv.js";
import {
  type Cluster,
  type Fixture,
  generateImages,
  listKeys,
  type Service,
  terminalJobStates,
  type Uploaded,
  uploadFixtures,
} from "../harness/index.js";
import { auditJob, type Expectations } from "./audit.js";

export type { Expectations };

/**
 * Short enough that every failure is handled within seconds on a 2-core CI machine, long enough that a busy
 * machine does not mistake a slow worker for a dead one. The result cache is off: a second job over the same
 * images must compress them again, not copy the first job's outputs.
 */
export const faultTimings: Record<string, string> = {
  IMGC_ACK_WAIT_MS: "5000",
  IMGC_WORKER_TIMEOUT_MS: "3000",
  IMGC_HEARTBEAT_MS: "1000",
  IMGC_MAX_DELIVER: "4",
  IMGC_ITEM_TIMEOUT_MS: "2000",
  IMGC_DRAIN_TIMEOUT_MS: "3000",
  IMGC_CACHE_TTL_MS: "0",
  IMGC_LOG_LEVEL: "info",
};

/** Two slots per worker: four workers then hold eight chunks at once, on two cores. */
export const faultWorkerEnv: Record<string, string> = { IMGC_WORKER_SLOTS: "2" };

export const JOB_SIZE = 500;

const repoRoot = new URL("../../", import.meta.url).pathname;

/** Every scenario's job asks for the same thing: one fixed WebP encode, streamed. */
export const webp: MessageInitShape<typeof CompressionOptionsSchema> = {
  format: ImageFormat.WEBP,
  target: { goal: { case: "quality", value: 75 } },
};

const FIXTURE_VERSION = "v1";

/**
 * `count` images of 32 to 64 px (JPEG, PNG, WebP in turn), generated once per machine into the temp folder and
 * read back from there afterwards, so that the scenarios share them without paying for them each time.
 */
export async function smallImages(count = JOB_SIZE, seed = 6): Promise<Fixture[]> {
  const dir = path.join(os.tmpdir(), `imgc-fault-images-${FIXTURE_VERSION}-${count}-${seed}`);
  try {
    const names = readdirSync(dir).sort();
    if (names.length === count) return names.map((name) => ({ name, body: readFileSync(path.join(dir, name)) }));
  } catch {
    // Not made yet.
  }
  const images = await generateImages(count, { minSide: 32, maxSide: 64, seed });
  // Written to a fresh folder and renamed into place, so that a run interrupted half-way leaves nothing half-made.
  const staging = `${dir}.${process.pid}.tmp`;
  mkdirSync(staging, { recursive: true });
  for (const image of images) writeFileSync(path.join(staging, image.name), image.body);
  try {
    renameSync(staging, dir);
  } catch {
    // Another run made it meanwhile: theirs is the same.
  }
  return images;
}

export interface Batch {
  prefix: string;
  uploads: Uploaded[];
  /** Upload key → its source's width and height. */
  sizes: Map<string, { width: number; height: number }>;
}

/** Uploads the images under one fresh prefix (tenant `default` unless given). */
export async function uploadBatch(
  c: Cluster,
  images: readonly Fixture[],
  options: { tenant?: string } = {},
): Promise<Batch> {
  const { prefix, uploads } = await uploadFixtures(c.storage, images, { concurrency: 16, ...options });
  const sizes = new Map<string, { width: number; height: number }>();
  await Promise.all(
    uploads.map(async (upload) => {
      try {
        const { width = 0, height = 0 } = await sharp(upload.body).metadata();
        sizes.set(upload.key, { width, height });
      } catch {
        // Not an image (a hostile input): it has no size to compare an output with, and should have no output.
      }
    }),
  );
  return { prefix, uploads, sizes };
}

/** Submits a job over every object under the batch's prefix. */
export async function submitBatch(
  jobs: Client<typeof JobService>,
  batch: Batch,
  extra: { idempotencyKey?: string; priority?: Priority; label?: string } = {},
): Promise<Job> {
  const { job } = await jobs.submitJob({
    sources: [{ kind: { case: "s3Prefix", value: { bucket: "", prefix: batch.prefix } } }],
    options: webp,
    ...extra,
  });
  if (!job) throw new Error("SubmitJob returned no job");
  expect(job.counts?.total).toBe(batch.uploads.length);
  return job;
}

export const ended = (job: Job | undefined) =>
  (job?.counts?.done ?? 0) + (job?.counts?.keptOriginal ?? 0) + (job?.counts?.failed ?? 0);

/**
 * Polls until a random fraction of the job between `from` and `to` has ended; returns the fraction reached.
 * Fails when the job ends first (the fault would come too late to mean anything).
 */
export async function waitForProgress(
  jobs: Client<typeof JobService>,
  jobId: string,
  from = 0.2,
  to = 0.8,
  timeoutMs = 120_000,
): Promise<number> {
  const target = from + Math.random() * (to - from);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await jobs.getJob({ jobId });
    const total = job?.counts?.total ?? 0;
    const fraction = total > 0 ? ended(job) / total : 0;
    if (fraction >= target) {
      if (fraction >= 1) throw new Error(`job ${jobId} ended before the fault (target ${target.toFixed(2)})`);
      return fraction;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach ${target.toFixed(2)} in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The invariants of the issue, for an ended job (see audit.ts): every item has exactly one terminal result,
 * the counters count each item once and add up, and the output prefix holds exactly one whole, decodable
 * object per successful item and nothing else. Returns the results for further checks.
 */
export async function expectNothingLost(
  c: Cluster,
  jobId: string,
  batch: Batch,
  expectations: Expectations = {},
): Promise<ItemResult[]> {
  const { problems, results } = await auditJob(c, jobId, batch, expectations);
  expect(problems, `job ${jobId}`).toEqual([]);
  return results;
}

/** The keys under `outputs/` of a tenant that belong to no job given: leftovers of a write cut in half. */
export async function strayOutputs(c: Cluster, tenant: string, jobIds: readonly string[]): Promise<string[]> {
  const keys = await listKeys(c.storage, `outputs/${tenant}/`);
  return keys.filter((key) => !jobIds.some((id) => key.startsWith(`outputs/${tenant}/${id}/`)));
}

/**
 * The live worker holding the most chunks, by its latest heartbeat; waits (heartbeats come every second) until
 * some worker holds one, and fails rather than hand back a worker holding nothing: a fault on an idle worker
 * proves nothing about its chunks.
 */
export async function busiestWorker(c: Cluster): Promise<{ worker: Service; chunks: string[] }> {
  const deadline = Date.now() + 10 * Number(faultTimings.IMGC_HEARTBEAT_MS);
  for (;;) {
    const { workers } = await c.cluster.listWorkers({});
    const live = workers
      .filter((status) => c.workers.some((w) => w.name === status.id && w.running()))
      .sort((a, b) => b.chunks.length - a.chunks.length);
    const top = live[0];
    const worker = c.workers.find((w) => w.name === top?.id);
    if (top && worker && top.chunks.length > 0) return { worker, chunks: top.chunks };
    if (Date.now() > deadline) {
      const seen = live.map((status) => `${status.id}: ${status.chunks.length}`).join(", ");
      throw new Error(`no live worker held a chunk in 10 heartbeats (${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A worker frozen (SIGSTOP) while it holds unfinished chunks of the job, with those chunks as the coordinator's
 * dispatch records name them. A heartbeat is up to a second old and small chunks end in milliseconds, so the
 * busiest worker by heartbeat may hold nothing by the time it is hit; frozen, what it holds stays put. With
 * `unfinished`, a chunk counts only while one of its items has no result yet: a worker frozen between reporting a
 * chunk's last item and completing it holds a chunk that needs no one, and a test of what its death republishes
 * would prove nothing (one that needs only a held chunk, whatever is left of it, finds one sooner). The caller
 * ends the freeze (SIGKILL, or SIGCONT).
 */
export async function frozenHolding(
  c: Cluster,
  nc: NatsConnection,
  jobId: string,
  options: { unfinished?: boolean } = {},
): Promise<{ worker: Service; chunks: string[] }> {
  const js = nc.jetstream();
  const [dispatch, chunkKv, results] = await Promise.all([
    js.views.kv(DISPATCH_BUCKET),
    js.views.kv(CHUNKS_BUCKET),
    js.views.kv(RESULTS_BUCKET),
  ]);
  /** Whether one of the chunk's items has no result yet. */
  const unfinished = async (key: string) => {
    const entry = await chunkKv.get(key);
    if (!entry) return false;
    const { items } = decodeMessage(ChunkSchema, entry.value);
    const stored = await Promise.all(items.map((item) => results.get(resultKey(jobId, item.itemId))));
    return stored.some((result) => result?.operation !== "PUT");
  };
  const deadline = Date.now() + 10 * Number(faultTimings.IMGC_HEARTBEAT_MS);
  for (;;) {
    const { worker } = await busiestWorker(c);
    await worker.kill("SIGSTOP");
    // Calls it sent just before the freeze land first: a completion in flight is not a chunk it holds.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const claimed = (await snapshot(dispatch, `${jobId}.>`))
      .filter((entry) => {
        const record = decodeMessage(ChunkDispatchSchema, entry.value);
        return record.workerId === worker.name && !record.completed;
      })
      .map((entry) => entry.key);
    const open = options.unfinished ? await Promise.all(claimed.map(unfinished)) : claimed.map(() => true);
    const chunks = claimed.filter((_, at) => open[at]);
    if (chunks.length > 0) return { worker, chunks };
    await worker.kill("SIGCONT");
    if (Date.now() > deadline) throw new Error(`no worker held a chunk of ${jobId} when frozen`);
  }
}

/** Waits until the coordinator lists exactly these workers (a rejoin shows within a heartbeat or two). */
export async function untilListed(c: Cluster, names: readonly string[]): Promise<void> {
  const want = JSON.stringify([...names].sort());
  const deadline = Date.now() + 10 * Number(faultTimings.IMGC_HEARTBEAT_MS);
  for (;;) {
    const listed = JSON.stringify((await c.cluster.listWorkers({})).workers.map((w) => w.id).sort());
    if (listed === want) return;
    if (Date.now() > deadline) throw new Error(`the coordinator lists ${listed}, not ${want}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The JSON log lines of a service with this message. */
export function logsWith(lines: readonly Record<string, unknown>[], msg: string): Record<string, unknown>[] {
  return lines.filter((line) => line.msg === msg);
}

/** Milliseconds since `since`, rounded, for the figures the suite prints. */
export const elapsed = (since: number) => Math.round(Date.now() - since);

/**
 * One line of the figures the suite measured, printed so that CI logs keep them; with IMGC_KEEP_FIGURES=1, also
 * kept in bench/results/faults.json (the shape of bench/lib/results.ts), from which `npm run bench:docs`
 * generates the figures table of docs/reliability.md. A run of one file replaces only its own scenarios' rows.
 */
export function figure(scenario: string, values: Record<string, unknown>): void {
  console.log(`[faults] ${scenario}: ${JSON.stringify(values)}`);
  if (process.env.IMGC_KEEP_FIGURES === "1") keepFigure(scenario, values);
}

function keepFigure(scenario: string, values: Record<string, unknown>): void {
  const file = path.join(resultsDir.pathname, "faults.json");
  let kept: Partial<BenchResults> = {};
  try {
    kept = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
  } catch {
    // The first figure kept.
  }
  const testFile = path.relative(repoRoot, expect.getState().testPath ?? "");
  const rows = new Map<string, { file: string; date: string; commit: string; values: Record<string, unknown> }>(
    Object.entries((kept.details?.rows ?? {}) as Record<string, never>),
  );
  rows.set(scenario, { file: testFile, date: new Date().toISOString(), commit: commitAtStart, values });
  const ordered = [...rows].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
  const files = [...new Set(ordered.map(([, row]) => row.file))].sort();
  const show = (value: unknown): string =>
    typeof value === "object" && value !== null ? JSON.stringify(value).replaceAll('"', "") : String(value);
  writeResults({
    bench: "faults",
    command: `IMGC_KEEP_FIGURES=1 npx vitest run --project integration ${files.join(" ")}`,
    machine: machineNow(),
    options: { timings: faultTimings, workerEnv: faultWorkerEnv, jobSize: JOB_SIZE },
    figures: ordered.map(([name, row]) => ({
      figure: `${name} (${path.basename(row.file)}, ${row.date.slice(0, 16).replace("T", " ")})`,
      value: Object.entries(row.values)
        .map(([key, value]) => `${key} ${show(value)}`)
        .join("; "),
    })),
    details: { rows: Object.fromEntries(ordered) },
  });
}

export interface Follower {
  /** Every event received, in order. */
  readonly events: JobEvent[];
  /** How many times the stream broke and was resumed. */
  readonly reconnects: number;
  /** Settles when the job's final event has been received; rejects after `timeoutMs`. */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Follows a job over WatchJob the way a client should: when the stream breaks (the coordinator behind the
 * gateway died), it resumes after the last sequence it saw, and keeps trying until `timeoutMs`.
 */
export function followJob(jobs: Client<typeof JobService>, jobId: string, timeoutMs = 120_000): Follower {
  const events: JobEvent[] = [];
  let reconnects = 0;
  const abort = new AbortController();
  const deadline = Date.now() + timeoutMs;
  const done = (async () => {
    for (;;) {
      try {
        const after = events.at(-1)?.sequence ?? 0n;
        for await (const { event } of jobs.watchJob({ jobId, afterSequence: after }, { signal: abort.signal })) {
          if (!event) continue;
          events.push(event);
          if (event.kind.case === "job" && terminalJobStates.has(event.kind.value.state) && event.kind.value.finishedAt)
            return;
        }
      } catch (err) {
        if (abort.signal.aborted) throw err;
      }
      if (Date.now() > deadline) throw new Error(`no final event for ${jobId} within ${timeoutMs} ms`);
      reconnects++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  done.catch(() => {});
  return {
    events,
    get reconnects() {
      return reconnects;
    },
    done,
    stop: () => abort.abort(),
  };
}

/** A NATS connection of the test's own, for reading the task stream's counters. */
export async function natsOf(c: Cluster): Promise<NatsConnection> {
  return connect({
    servers: c.addresses.nats,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...c.nats.credentials(),
  });
}

/** How many messages the task stream has ever stored (its last sequence): publishes that were not deduplicated. */
export async function tasksPublished(nc: NatsConnection): Promise<number> {
  const info = await (await nc.jetstreamManager()).streams.info(TASKS_STREAM);
  return info.state.last_seq;
}

/** Chunk republishes the coordinator (every one started so far) logged for a job. */
export function republishedChunks(coordinatorLogs: readonly Record<string, unknown>[], jobId: string): number {
  return logsWith(coordinatorLogs, "chunk republished").filter((l) => l.jobId === jobId && l.republish !== null).length;
}

/** Resident memory of a process and its children (the worker's engine children), in KiB, from /proc. */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number; processes: number } {
  const pids = [pid, ...childrenOf(pid)];
  let rssKiB = 0;
  let hwmKiB = 0;
  let processes = 0;
  for (const p of pids) {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKiB += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      processes++;
    } catch {
      // Gone meanwhile.
    }
  }
  return { rssKiB, hwmKiB, processes };
}

/** Every descendant of a process, from /proc. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The parent pid is the 4th field, after the command in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push(Number(name), ...childrenOf(Number(name)));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Samples memoryOf for each pid every `everyMs` until stopped; returns the highest RSS seen per pid. */
export function sampleMemory(pids: readonly number[], everyMs = 200) {
  const peak = new Map<number, number>(pids.map((pid) => [pid, 0]));
  let samples = 0;
  const take = () => {
    samples++;
    for (const pid of pids) peak.set(pid, Math.max(peak.get(pid) ?? 0, memoryOf(pid).rssKiB));
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakRssKiB: peak, samples };
    },
  };
}
