/**
 * Dev server only: an in-memory JobService behind connect's router transport, so the page can be worked on
 * (and looked at) without a cluster. Uploaded bytes live in the dev server (fake-s3-plugin.ts); "compressing"
 * decodes each image in the browser for its dimensions and invents a smaller size; images that do not decode
 * fail as CORRUPT_INPUT, as on a real worker. Add `&flaky` to the address to drop the event stream every few
 * seconds and watch the page reconnect.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import {
  ErrorCode,
  ImageFormat,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  isTerminalItemState,
  isTerminalJobState,
  type Job,
  type JobEvent,
  JobEventSchema,
  JobSchema,
  JobService,
  JobState,
  LaneStatsSchema,
  Priority,
  SubmitJobRequestSchema,
  WorkerStatusSchema,
} from "@imgc/proto";
import type { Api, ClusterSnapshot } from "../api.js";

interface FakeJob {
  job: Job;
  items: ItemResult[];
  events: JobEvent[];
  waiters: Set<() => void>;
}

const workers = ["worker-ams-1", "worker-ams-2", "worker-fra-1"].map((id, i) => ({
  id,
  host: `node-${i + 1}.local`,
  slots: 2,
  busy: 0,
  chunks: new Set<string>(),
  done: 0,
}));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function dimensionsOf(url: string): Promise<{ width: number; height: number } | undefined> {
  try {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return undefined;
  }
}

export function createFakeApi(): Api {
  const jobs = new Map<string, FakeJob>();
  const flaky = new URLSearchParams(location.search).has("flaky");
  let nextJob = 1;

  function emit(f: FakeJob, kind: JobEvent["kind"]): void {
    f.events.push(
      create(JobEventSchema, { sequence: BigInt(f.events.length + 1), jobId: f.job.id, time: timestampNow(), kind }),
    );
    for (const wake of f.waiters) wake();
    f.waiters.clear();
  }

  function recount(f: FakeJob): void {
    const c = f.job.counts ?? create(JobSchema).counts;
    if (!c) return;
    const by = (s: ItemState) => f.items.filter((i) => i.state === s).length;
    c.total = f.items.length;
    c.pending = by(ItemState.PENDING);
    c.running = by(ItemState.RUNNING);
    c.done = by(ItemState.DONE);
    c.keptOriginal = by(ItemState.KEPT_ORIGINAL);
    c.failed = by(ItemState.FAILED);
    const ended = f.items.filter((i) => isTerminalItemState(i.state));
    f.job.bytesIn = ended.reduce((s, i) => s + i.inputBytes, 0n);
    f.job.bytesOut = ended.filter((i) => i.state !== ItemState.FAILED).reduce((s, i) => s + i.outputBytes, 0n);
    if (c.pending + c.running === 0 && !isTerminalJobState(f.job.state)) {
      f.job.state =
        c.failed === c.total ? JobState.FAILED : c.failed ? JobState.COMPLETED_WITH_ERRORS : JobState.COMPLETED;
      f.job.finishedAt = timestampNow();
    }
    emit(f, { case: "job", value: create(JobSchema, f.job) });
  }

  async function run(f: FakeJob): Promise<void> {
    await sleep(400);
    f.job.state = JobState.RUNNING;
    f.job.startedAt = timestampNow();
    recount(f);
    const queue = [...f.items];
    // A function, not an inline test: the job's state changes under us while we await.
    const cancelled = () => f.job.state === JobState.CANCELLED;
    await Promise.all(
      workers.flatMap((w) =>
        Array.from({ length: w.slots }, async () => {
          for (let item = queue.shift(); item; item = queue.shift()) {
            if (cancelled()) return;
            const chunk = `${f.job.id}.${Math.floor(Number(item.itemId) / 4)}`;
            w.busy++;
            w.chunks.add(chunk);
            item.state = ItemState.RUNNING;
            // Item-started events, as the coordinator sends them (ItemResult.started_at, RUNNING).
            emit(f, {
              case: "item",
              value: create(ItemResultSchema, { ...item, workerId: w.id, startedAt: timestampNow() }),
            });
            await sleep(300 + Math.random() * 1500);
            const size = await dimensionsOf(`/__fake-s3/${item.sourceKey}`);
            w.busy--;
            w.chunks.delete(chunk);
            if (cancelled()) return;
            w.done++;
            const input = Number(item.inputBytes);
            item.workerId = w.id;
            item.durationMs = 200 + Math.round(Math.random() * 900);
            if (!size) {
              Object.assign(item, {
                state: ItemState.FAILED,
                errorCode: ErrorCode.CORRUPT_INPUT,
                errorMessage: "the image data is truncated or damaged and cannot be decoded",
              });
            } else if (/gradient/i.test(item.sourceKey)) {
              Object.assign(item, {
                state: ItemState.KEPT_ORIGINAL,
                outputBytes: item.inputBytes,
                keptReason: "the compressed image was 4% larger than the original",
                ...size,
              });
            } else {
              Object.assign(item, {
                state: ItemState.DONE,
                format: /\.png$/i.test(item.sourceKey) ? ImageFormat.WEBP : ImageFormat.JPEG,
                outputBytes: BigInt(Math.round(input * (0.12 + Math.random() * 0.45))),
                quality: 80,
                ssim: 0.97 + Math.random() * 0.02,
                ...size,
              });
            }
            emit(f, { case: "item", value: create(ItemResultSchema, item) });
            recount(f);
          }
        }),
      ),
    );
  }

  function find(jobId: string): FakeJob {
    const f = jobs.get(jobId);
    if (!f) throw new ConnectError(`job ${jobId} not found`, Code.NotFound);
    return f;
  }

  const impl: ServiceImpl<typeof JobService> = {
    createUploads(req) {
      return {
        slots: req.files.map((file, i) => {
          if (file.size > 50_000_000n)
            throw new ConnectError(`${file.name} is larger than 50 MB`, Code.InvalidArgument);
          const key = `uploads/default/${Date.now().toString(36)}${i}/${file.name.replace(/[^\w.-]+/g, "_")}`;
          return { key, url: `/__fake-s3/${key}`, expiresAt: timestampFromMs(Date.now() + 15 * 60_000) };
        }),
      };
    },
    uploadImage() {
      throw new ConnectError("not in the fake", Code.Unimplemented);
    },
    submitJob(req) {
      const id = `fakejob${String(nextJob++).padStart(13, "0")}`;
      const items = req.sources.map((s, i) =>
        create(ItemResultSchema, {
          itemId: String(i).padStart(6, "0"),
          sourceKey: s.kind.case === "uploadKey" ? s.kind.value : "",
          state: ItemState.PENDING,
          inputBytes: 0n,
        }),
      );
      const job = create(JobSchema, {
        id,
        tenant: "default",
        state: JobState.QUEUED,
        label: req.label,
        priority: Priority.NORMAL,
        createdAt: timestampNow(),
        counts: { total: items.length, pending: items.length },
        chunkCount: Math.ceil(items.length / 4),
      });
      if (req.options) job.options = req.options;
      const f: FakeJob = { job, items, events: [], waiters: new Set() };
      jobs.set(id, f);
      void Promise.all(
        items.map(async (item) => {
          const res = await fetch(`/__fake-s3/${item.sourceKey}`);
          item.inputBytes = BigInt((await res.arrayBuffer()).byteLength);
        }),
      ).then(() => {
        emit(f, { case: "job", value: create(JobSchema, job) });
        void run(f);
      });
      return { job: create(JobSchema, job), created: true };
    },
    getJob(req) {
      return { job: find(req.jobId).job };
    },
    listJobs() {
      return { jobs: [...jobs.values()].map((f) => f.job).reverse() };
    },
    async *watchJob(req, ctx) {
      const f = find(req.jobId);
      let next = Number(req.afterSequence);
      const dropAt = flaky ? Date.now() + 3000 + Math.random() * 4000 : Number.POSITIVE_INFINITY;
      for (;;) {
        while (next < f.events.length) {
          if (Date.now() > dropAt) throw new ConnectError("connection reset (flaky fake)", Code.Unavailable);
          yield { event: f.events[next++] };
        }
        if (isTerminalJobState(f.job.state)) return;
        await new Promise<void>((resolve) => {
          f.waiters.add(resolve);
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          if (flaky) setTimeout(resolve, Math.max(0, dropAt - Date.now()));
        });
        if (ctx.signal.aborted) return;
      }
    },
    cancelJob(req) {
      const f = find(req.jobId);
      if (!isTerminalJobState(f.job.state)) {
        for (const item of f.items) {
          if (isTerminalItemState(item.state)) continue;
          Object.assign(item, {
            state: ItemState.FAILED,
            errorCode: ErrorCode.CANCELLED,
            errorMessage: "the job was cancelled",
          });
          emit(f, { case: "item", value: create(ItemResultSchema, item) });
        }
        f.job.state = JobState.CANCELLED;
        f.job.finishedAt = timestampNow();
        recount(f);
      }
      return { job: f.job };
    },
    getResults(req) {
      const f = find(req.jobId);
      const size = req.pageSize || 100;
      const from = Number(req.pageToken || "0");
      const asked = req.itemIds.length > 0 ? f.items.filter((item) => req.itemIds.includes(item.itemId)) : f.items;
      const page = asked.slice(from, from + size).map((item) => {
        const shown = create(ItemResultSchema, item);
        if (shown.state === ItemState.RUNNING) shown.state = ItemState.PENDING;
        if (req.includeUrls && isTerminalItemState(shown.state)) shown.downloadUrl = `/__fake-s3/${item.sourceKey}`;
        if (req.includeSourceUrls) shown.sourceUrl = `/__fake-s3/${item.sourceKey}`;
        return shown;
      });
      return { results: page, job: f.job, nextPageToken: from + size < asked.length ? String(from + size) : "" };
    },
    retryJob(req) {
      const f = find(req.jobId);
      if (!isTerminalJobState(f.job.state)) throw new ConnectError("the job has not ended", Code.FailedPrecondition);
      const failed = f.items.filter((item) => item.state === ItemState.FAILED);
      if (failed.length === 0) throw new ConnectError("nothing to retry", Code.InvalidArgument);
      const options = req.options ?? f.job.options;
      const { job } = impl.submitJob(
        create(SubmitJobRequestSchema, {
          sources: failed.map((item) => ({ kind: { case: "uploadKey" as const, value: item.sourceKey } })),
          label: `retry of ${f.job.label || f.job.id}`,
          ...(options ? { options } : {}),
        }),
        undefined as never,
      ) as { job: Job };
      job.retryOf = f.job.id;
      return { job, created: true };
    },
    deleteJob(req) {
      find(req.jobId);
      jobs.delete(req.jobId);
      return { objectsDeleted: 0 };
    },
  };

  const transport = createRouterTransport(({ service }) => service(JobService, impl));

  async function loadCluster(): Promise<ClusterSnapshot> {
    await sleep(80);
    const running = [...jobs.values()].filter((f) => !isTerminalJobState(f.job.state));
    const pendingItems = running.reduce(
      (sum, f) => sum + f.items.filter((i) => i.state === ItemState.PENDING).length,
      0,
    );
    return {
      at: Date.now(),
      workers: workers.map((w) =>
        create(WorkerStatusSchema, {
          id: w.id,
          host: w.host,
          version: "0.1.0",
          slots: w.slots,
          busy: w.busy,
          chunks: [...w.chunks],
          itemsDone: BigInt(w.done),
          itemsPerSecond: w.busy * 0.9,
          heartbeatAt: timestampFromMs(Date.now() - Math.round(Math.random() * 1800)),
        }),
      ),
      lanes: [Priority.HIGH, Priority.NORMAL, Priority.LOW].map((priority) =>
        create(LaneStatsSchema, {
          priority,
          pending: BigInt(priority === Priority.NORMAL ? Math.ceil(pendingItems / 4) : 0),
          ackPending: BigInt(priority === Priority.NORMAL ? workers.reduce((s, w) => s + w.chunks.size, 0) : 0),
        }),
      ),
    };
  }

  return { jobs: createClient(JobService, transport), loadCluster };
}
