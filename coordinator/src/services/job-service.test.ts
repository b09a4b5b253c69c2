import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, ImageFormat, ItemState, type JobEvent, JobState, type WatchJobResponse } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { describe, expect, it } from "vitest";
import {
  endedJob,
  pullChunks,
  runChunk,
  runChunkFailing,
  type TestCoordinator,
  tenantHeader,
  testSettings,
  useTestStack,
} from "../testing/harness.js";

let nc: NatsConnection;
let t: TestCoordinator;
useTestStack((stack) => ({ nc, t } = stack));

async function submit(n: number, label = "") {
  const keys = Array.from({ length: n }, (_, i) => {
    const key = `uploads/default/w/${i}.jpg`;
    t.storage.put(key, 1000);
    return key;
  });
  const { job } = await t.jobs.submitJob({
    sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
    label,
  });
  if (!job) throw new Error("no job");
  return job;
}

async function collect(stream: AsyncIterable<WatchJobResponse>): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const message of stream) if (message.event) events.push(message.event);
  return events;
}

describe("WatchJob", () => {
  it("streams a job's events live and ends after the final one", async () => {
    const job = await submit(4);
    const watching = collect(t.jobs.watchJob({ jobId: job.id }));
    for (const p of await pullChunks(nc, 10)) await runChunk(t, "w1", p.chunk);
    const events = await watching;
    const items = events.filter((e) => e.kind.case === "item");
    const ended = items.filter((e) => e.kind.case === "item" && e.kind.value.state !== ItemState.RUNNING);
    expect(ended).toHaveLength(4);
    // Each claimed chunk says which item runs now, and on which worker.
    const running = items.filter((e) => e.kind.case === "item" && e.kind.value.state === ItemState.RUNNING);
    expect(running.length).toBeGreaterThanOrEqual(1);
    for (const e of running) expect(e.kind.case === "item" && e.kind.value.workerId).toBe("w1");
    const last = events[events.length - 1];
    expect(last?.kind.case).toBe("job");
    expect(last?.kind.case === "job" && last.kind.value.state).toBe(JobState.COMPLETED);
    const sequences = events.map((e) => Number(e.sequence));
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
  });

  it("resumes after a sequence without repeating or missing an event", async () => {
    const job = await submit(4);
    for (const p of await pullChunks(nc, 10)) await runChunk(t, "w1", p.chunk);
    const all = await collect(t.jobs.watchJob({ jobId: job.id }));
    expect(all.length).toBeGreaterThan(3);
    const cut = all[2]?.sequence ?? 0n;
    const rest = await collect(t.jobs.watchJob({ jobId: job.id, afterSequence: cut }));
    expect(rest.map((e) => e.sequence)).toEqual(all.slice(3).map((e) => e.sequence));
    // After the final event there is nothing more, and the stream ends at once.
    const none = await collect(t.jobs.watchJob({ jobId: job.id, afterSequence: all[all.length - 1]?.sequence ?? 0n }));
    expect(none).toHaveLength(0);
  });
});

describe("ListJobs", () => {
  it("pages newest first and filters by state", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await submit(1, `job ${i}`)).id);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const first = await t.jobs.listJobs({ pageSize: 2 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const second = await t.jobs.listJobs({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const third = await t.jobs.listJobs({ pageSize: 2, pageToken: second.nextPageToken });
    expect(third.jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect(third.nextPageToken).toBe("");

    await t.jobs.cancelJob({ jobId: ids[1] ?? "" });
    const cancelled = await t.jobs.listJobs({ state: JobState.CANCELLED });
    expect(cancelled.jobs.map((j) => j.id)).toEqual([ids[1]]);
    expect((await t.jobs.listJobs({ state: JobState.QUEUED })).jobs).toHaveLength(4);

    const bad = await t.jobs.listJobs({ pageSize: 501 }).catch((e: unknown) => ConnectError.from(e));
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("uploads", () => {
  it("hands out presigned PUT slots under the tenant's uploads folder", async () => {
    const asked = Date.now();
    const { slots } = await t.jobs.createUploads(
      {
        files: [
          { name: "../../etc/My Photo.JPG", size: 100n },
          { name: "b.png", size: 5n },
        ],
      },
      tenantHeader("acme"),
    );
    expect(slots).toHaveLength(2);
    expect(slots[0]?.key).toMatch(/^uploads\/acme\/[A-Za-z0-9_-]{16}\/My_Photo\.JPG$/);
    expect(slots[0]?.url).toContain(slots[0]?.key);
    // The slot expires when its URL does: the configured lifetime after it was handed out.
    const answered = Date.now();
    const ttlMs = testSettings.urlTtlS * 1000;
    for (const slot of slots) {
      expect(slot.url).toContain(`expires=${testSettings.urlTtlS}`);
      const expiresMs = slot.expiresAt ? timestampMs(slot.expiresAt) : Number.NaN;
      expect(expiresMs).toBeGreaterThanOrEqual(asked + ttlMs);
      expect(expiresMs).toBeLessThanOrEqual(answered + ttlMs);
    }
  });

  it("leaves UploadImage to the gateway", async () => {
    const err = await t.jobs.uploadImage((async function* () {})()).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unimplemented);
  });
});

/** Runs every chunk on the stream, failing the items named; answers the job once it has ended. */
async function runAll(jobId: string, failing: readonly string[] = []) {
  for (const p of await pullChunks(nc, 100)) await runChunkFailing(t, "w1", p.chunk, failing);
  return endedJob(t, jobId);
}

const code = (err: unknown) => ConnectError.from(err).code;

describe("RetryJob", () => {
  it("runs the failed items again as a new job linked by retry_of, with new options, idempotently", async () => {
    const job = await submit(4);
    const ended = await runAll(job.id, ["000001", "000003"]);
    expect(ended.state).toBe(JobState.COMPLETED_WITH_ERRORS);

    const options = { format: ImageFormat.AVIF };
    const first = await t.jobs.retryJob({ jobId: job.id, options });
    expect(first.created).toBe(true);
    expect(first.job?.retryOf).toBe(job.id);
    expect(first.job?.id).not.toBe(job.id);
    expect(first.job?.counts?.total).toBe(2);
    expect(first.job?.options?.format).toBe(ImageFormat.AVIF);
    // The retry reads the failed items' own sources again.
    const { results } = await t.jobs.getResults({ jobId: first.job?.id ?? "" });
    expect(results.map((r) => r.sourceKey)).toEqual(["uploads/default/w/1.jpg", "uploads/default/w/3.jpg"]);

    const again = await t.jobs.retryJob({ jobId: job.id, options });
    expect(again.created).toBe(false);
    expect(again.job?.id).toBe(first.job?.id);
    // Another request (other options, or other items) is another retry.
    const keep = await t.jobs.retryJob({ jobId: job.id });
    expect(keep.created).toBe(true);
    expect(keep.job?.options?.format).toBe(ended.options?.format);
    const one = await t.jobs.retryJob({ jobId: job.id, itemIds: ["000002"] });
    expect(one.job?.counts?.total).toBe(1);
    expect(one.job?.id).not.toBe(keep.job?.id);
  });

  it("refuses a job that has not ended, one with nothing to retry, and another tenant's", async () => {
    const open = await submit(2);
    const running = await t.jobs.retryJob({ jobId: open.id }).catch(code);
    expect(running).toBe(Code.FailedPrecondition);
    await runAll(open.id);
    expect(await t.jobs.retryJob({ jobId: open.id }).catch(code)).toBe(Code.InvalidArgument);
    expect(await t.jobs.retryJob({ jobId: open.id, itemIds: ["000007"] }).catch(code)).toBe(Code.InvalidArgument);
    expect(await t.jobs.retryJob({ jobId: open.id, options: { format: 99 as ImageFormat } }).catch(code)).toBe(
      Code.InvalidArgument,
    );
    expect(await t.jobs.retryJob({ jobId: open.id }, tenantHeader("other")).catch(code)).toBe(Code.NotFound);
  });
});

describe("GetResults filters", () => {
  it("answers only the items named, in item order, and only the states asked, across pages", async () => {
    const job = await submit(6);
    await runAll(job.id, ["000001", "000004"]);
    const named = await t.jobs.getResults({ jobId: job.id, itemIds: ["000004", "000002", "999999", "x", "000002"] });
    expect(named.results.map((r) => r.itemId)).toEqual(["000002", "000004"]);
    expect(named.nextPageToken).toBe("");

    const failed = await t.jobs.getResults({ jobId: job.id, states: [ItemState.FAILED] });
    expect(failed.results.map((r) => r.itemId)).toEqual(["000001", "000004"]);
    for (const r of failed.results) expect(r.errorCode).toBe(ErrorCode.CORRUPT_INPUT);

    const seen: string[] = [];
    let token = "";
    do {
      const page = await t.jobs.getResults({ jobId: job.id, states: [ItemState.DONE], pageSize: 2, pageToken: token });
      expect(page.results.length).toBeLessThanOrEqual(2);
      seen.push(...page.results.map((r) => r.itemId));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual(["000000", "000002", "000003", "000005"]);

    const both = await t.jobs.getResults({ jobId: job.id, itemIds: ["000001", "000002"], states: [ItemState.FAILED] });
    expect(both.results.map((r) => r.itemId)).toEqual(["000001"]);

    const many = Array.from({ length: 1001 }, (_, i) => String(i).padStart(6, "0"));
    expect(await t.jobs.getResults({ jobId: job.id, itemIds: many }).catch(code)).toBe(Code.InvalidArgument);
    expect(await t.jobs.getResults({ jobId: job.id, states: [42 as ItemState] }).catch(code)).toBe(
      Code.InvalidArgument,
    );
  });
});

const has = (key: string, bucket = "imgc") => t.storage.objects.has(`${bucket}/${key}`);

async function submitKeys(keys: string[], extra: { idempotencyKey?: string; tenant?: string } = {}) {
  for (const key of keys) if (!has(key)) t.storage.put(key, 1000);
  const { job } = await t.jobs.submitJob(
    {
      sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
      idempotencyKey: extra.idempotencyKey ?? "",
    },
    tenantHeader(extra.tenant ?? "default"),
  );
  if (!job) throw new Error("no job");
  return job;
}

/** Runs the chunks on the stream and stores each DONE item's output, as a worker would. */
async function runAndStore(jobId: string, tenant = "default") {
  for (const p of await pullChunks(nc, 100)) {
    for (const itemId of await runChunk(t, "w1", p.chunk)) t.storage.put(`${p.chunk.outputPrefix}${itemId}.webp`, 400);
    p.ack();
  }
  return endedJob(t, jobId).catch(async () => (await t.jobs.getJob({ jobId }, tenantHeader(tenant))).job);
}

describe("DeleteJob", () => {
  it("removes the job's outputs, report, uploads and records, and nothing of other jobs or tenants", async () => {
    const job = await submitKeys(["uploads/default/a/1.jpg", "uploads/default/a/2.jpg"], { idempotencyKey: "k1" });
    await runAndStore(job.id);
    const other = await submitKeys(["uploads/default/b/1.jpg"]);
    await runAndStore(other.id);
    t.storage.put("uploads/acme/a/1.jpg", 10);
    t.storage.put("outputs/acme/x/000000.webp", 10);
    expect(has(`outputs/default/${job.id}/000000.webp`)).toBe(true);
    expect(has(`reports/default/${job.id}.json`)).toBe(true);

    // Another tenant cannot see the job, so cannot delete it.
    expect(await t.jobs.deleteJob({ jobId: job.id }, tenantHeader("acme")).catch(code)).toBe(Code.NotFound);
    const { objectsDeleted } = await t.jobs.deleteJob({ jobId: job.id });
    expect(objectsDeleted).toBe(6); // two outputs, two reports, two uploads
    const left = [...t.storage.objects.keys()].filter((key) => key.includes(job.id) || key.includes("/a/"));
    expect(left).toEqual(["imgc/uploads/acme/a/1.jpg"]);
    expect(has("uploads/default/b/1.jpg")).toBe(true);
    expect(has(`outputs/default/${other.id}/000000.webp`)).toBe(true);
    expect(has(`reports/default/${other.id}.csv`)).toBe(true);
    expect(has("outputs/acme/x/000000.webp")).toBe(true);

    expect(await t.jobs.getJob({ jobId: job.id }).catch(code)).toBe(Code.NotFound);
    expect(await t.jobs.getResults({ jobId: job.id }).catch(code)).toBe(Code.NotFound);
    expect(await t.jobs.deleteJob({ jobId: job.id }).catch(code)).toBe(Code.NotFound);
    expect((await t.jobs.listJobs({})).jobs.map((j) => j.id)).toEqual([other.id]);
    // Its records are gone from NATS, and its idempotency key makes a new job.
    const js = nc.jetstream();
    expect(await (await js.views.kv("imgc-results")).get(`${job.id}.000000`)).toBeNull();
    expect(await (await js.views.kv("imgc-chunks")).get(`${job.id}.0`)).toBeNull();
    const info = await (await js.jetstreamManager()).streams.info("IMGC_EVENTS", {
      subjects_filter: `imgc.events.${job.id}`,
    });
    expect(info.state.subjects?.[`imgc.events.${job.id}`] ?? 0).toBe(0);
    const again = await submitKeys(["uploads/default/a/1.jpg"], { idempotencyKey: "k1" });
    expect(again.id).not.toBe(job.id);
  });

  it("cancels a job that has not ended before deleting it, and keeps uploads an open job still reads", async () => {
    const shared = "uploads/default/s/1.jpg";
    const first = await submitKeys([shared, "uploads/default/s/2.jpg"]);
    const second = await submitKeys([shared]);
    const { objectsDeleted } = await t.jobs.deleteJob({ jobId: first.id });
    // Its report (two objects) and the upload only it read.
    expect(objectsDeleted).toBe(3);
    expect(has(shared)).toBe(true);
    expect(has("uploads/default/s/2.jpg")).toBe(false);
    expect(await t.jobs.getJob({ jobId: first.id }).catch(code)).toBe(Code.NotFound);
    const { job } = await t.jobs.getJob({ jobId: second.id });
    expect(job?.state).toBe(JobState.QUEUED);
    // Once no open job reads it, the last job's deletion takes the upload too.
    await t.jobs.deleteJob({ jobId: second.id });
    expect(has(shared)).toBe(false);
  });

  it("ends a WatchJob stream of a running job it deletes with the job CANCELLED; a new one is NotFound", async () => {
    const job = await submitKeys(["uploads/default/w/1.jpg"]);
    const watching = collect(t.jobs.watchJob({ jobId: job.id }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await t.jobs.deleteJob({ jobId: job.id });
    const last = (await watching).at(-1);
    expect(last?.kind.case === "job" && last.kind.value.state).toBe(JobState.CANCELLED);
    expect(await collect(t.jobs.watchJob({ jobId: job.id })).catch(code)).toBe(Code.NotFound);
  });

  it("never removes objects outside the tenant's uploads folder that a job read", async () => {
    t.storage.put("outputs/default/old/1.webp", 100);
    const { job } = await t.jobs.submitJob({
      sources: [{ kind: { case: "s3Prefix", value: { prefix: "outputs/default/old/" } } }],
    });
    await runAndStore(job?.id ?? "");
    await t.jobs.deleteJob({ jobId: job?.id ?? "" });
    expect(has("outputs/default/old/1.webp")).toBe(true);
  });
});
