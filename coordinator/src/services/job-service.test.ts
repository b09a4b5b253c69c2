import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ItemState, type JobEvent, JobState, type WatchJobResponse } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { describe, expect, it } from "vitest";
import {
  pullChunks,
  runChunk,
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
