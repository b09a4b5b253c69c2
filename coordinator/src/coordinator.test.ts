import { Code, ConnectError } from "@connectrpc/connect";
import { ItemState, JobState } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { describe, expect, it } from "vitest";
import {
  endedJob,
  pullChunks,
  runChunk,
  runChunkFailing,
  type TestCoordinator,
  tenantHeader,
  useTestStack,
} from "./testing/harness.js";

let nc: NatsConnection;
let t: TestCoordinator;
useTestStack((stack) => ({ nc, t } = stack));

function uploads(tenant: string, n: number, size = 1000): string[] {
  return Array.from({ length: n }, (_, i) => {
    const key = `uploads/${tenant}/u${i}/photo-${i}.jpg`;
    t.storage.put(key, size);
    return key;
  });
}

describe("a job end to end", () => {
  it("splits 10 images into several chunks, completes when every item is reported, and writes the report", async () => {
    const keys = uploads("default", 10);
    const { job, created } = await t.jobs.submitJob({
      sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
    });
    expect(created).toBe(true);
    expect(job?.id).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(job?.state).toBe(JobState.QUEUED);
    expect(job?.counts?.total).toBe(10);
    expect(job?.chunkCount).toBeGreaterThanOrEqual(2);

    const pulled = await pullChunks(nc, 50);
    expect(pulled).toHaveLength(job?.chunkCount ?? 0);
    const items = pulled.flatMap((p) => p.chunk.items.map((item) => item.itemId)).sort();
    expect(items).toEqual(Array.from({ length: 10 }, (_, i) => String(i).padStart(6, "0")));

    // Two "workers" share the job.
    for (const [i, p] of pulled.entries()) {
      await runChunk(t, i % 2 === 0 ? "worker-a" : "worker-b", p.chunk);
      p.ack();
    }

    const done = await endedJob(t, job?.id ?? "");
    expect(done?.state).toBe(JobState.COMPLETED);
    expect(done?.counts).toMatchObject({ total: 10, done: 10, failed: 0, pending: 0, running: 0 });
    expect(done?.bytesIn).toBe(10_000n);
    expect(done?.bytesOut).toBe(4_000n);
    expect(done?.reportKey).toBe(`reports/default/${job?.id}.json`);
    const report = JSON.parse(t.storage.objects.get(`imgc/reports/default/${job?.id}.json`)?.toString() ?? "{}");
    expect(report.items).toHaveLength(10);
    expect(report.totals).toMatchObject({ items: 10, done: 10, bytesIn: 10_000, bytesOut: 4_000 });
    const csv = t.storage.objects.get(`imgc/reports/default/${job?.id}.csv`)?.toString() ?? "";
    // The header, a row per item and the TOTAL row (the shared report, @imgc/proto).
    const lines = csv.trimEnd().split("\r\n");
    expect(lines).toHaveLength(12);
    expect(lines.at(-1)).toMatch(/^TOTAL,10 items,,"10 done, 0 kept, 0 failed, 0 pending",10000,4000,6000,60,/);

    const page = await t.jobs.getResults({ jobId: job?.id ?? "", pageSize: 4, includeUrls: true });
    expect(page.results.map((r) => r.itemId)).toEqual(["000000", "000001", "000002", "000003"]);
    expect(page.results[0]?.state).toBe(ItemState.DONE);
    expect(page.results[0]?.sourceKey).toBe(keys[0]);
    expect(page.results[0]?.downloadUrl).toContain(`outputs/default/${job?.id}/000000.webp`);
    expect(page.nextPageToken).toBe("4");
    const last = await t.jobs.getResults({ jobId: job?.id ?? "", pageSize: 4, pageToken: "8" });
    expect(last.results.map((r) => r.itemId)).toEqual(["000008", "000009"]);
    expect(last.nextPageToken).toBe("");
  });

  it("presigns a download under the output's file name, with a quote in the source's name made safe", async () => {
    // Before @imgc/proto's outputFileName the '"' went into Content-Disposition's quoted filename as it was.
    const key = 'uploads/default/q0/say "hi".jpg';
    t.storage.put(key, 1000);
    const { job } = await t.jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: key } }] });
    const [pulled] = await pullChunks(nc, 1);
    if (!pulled) throw new Error("no chunk");
    await runChunkFailing(t, "w1", pulled.chunk, []);
    pulled.ack();
    await endedJob(t, job?.id ?? "");
    const page = await t.jobs.getResults({ jobId: job?.id ?? "", includeUrls: true });
    const url = new URL(page.results[0]?.downloadUrl ?? "http://missing/");
    expect(url.searchParams.get("response-content-disposition")).toBe('attachment; filename="say _hi_.webp"');
  });

  it("lists results of a running job as PENDING or RUNNING", async () => {
    const keys = uploads("default", 4);
    const { job } = await t.jobs.submitJob({
      sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
    });
    const [first] = await pullChunks(nc, 1);
    if (!first) throw new Error("no chunk");
    await t.cluster.claimChunk({ workerId: "w1", jobId: first.chunk.jobId, index: first.chunk.index, delivery: 1 });
    const page = await t.jobs.getResults({ jobId: job?.id ?? "" });
    const states = page.results.map((r) => r.state);
    expect(states.filter((s) => s === ItemState.RUNNING)).toHaveLength(first.chunk.items.length);
    expect(states.filter((s) => s === ItemState.PENDING)).toHaveLength(4 - first.chunk.items.length);
    expect(page.results.every((r) => r.sourceKey.startsWith("uploads/default/"))).toBe(true);
    expect((await t.jobs.getJob({ jobId: job?.id ?? "" })).job?.state).toBe(JobState.RUNNING);
  });

  it("fails a missing upload with SOURCE_NOT_FOUND without sending it to a worker", async () => {
    const keys = uploads("default", 2);
    const { job } = await t.jobs.submitJob({
      sources: [...keys, "uploads/default/nope/missing.jpg"].map((key) => ({
        kind: { case: "uploadKey", value: key },
      })),
    });
    const pulled = await pullChunks(nc, 10);
    expect(pulled.flatMap((p) => p.chunk.items)).toHaveLength(2);
    for (const p of pulled) await runChunk(t, "w1", p.chunk);
    const done = await endedJob(t, job?.id ?? "");
    expect(done?.state).toBe(JobState.COMPLETED_WITH_ERRORS);
    expect(done?.counts).toMatchObject({ total: 3, done: 2, failed: 1 });
  });

  it("fails the whole job when its prefix holds nothing", async () => {
    const { job } = await t.jobs.submitJob({
      sources: [{ kind: { case: "s3Prefix", value: { bucket: "", prefix: "uploads/default/empty/" } } }],
    });
    expect(job?.state).toBe(JobState.FAILED);
    expect(job?.error).toMatch(/no objects/);
  });

  it("expands an S3 prefix into every object under it", async () => {
    for (let i = 0; i < 40; i++) t.storage.put(`uploads/default/batch/${String(i).padStart(3, "0")}.png`, 500);
    t.storage.put("uploads/default/other/x.png", 500);
    const { job } = await t.jobs.submitJob({
      sources: [{ kind: { case: "s3Prefix", value: { bucket: "", prefix: "uploads/default/batch/" } } }],
    });
    expect(job?.counts?.total).toBe(40);
    expect(job?.chunkCount).toBe(10); // max 4 items per chunk in tests
  });
});

describe("SubmitJob validation", () => {
  it("rejects a request without sources, with a message naming the field", async () => {
    const err = await t.jobs.submitJob({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toContain("sources: at least one source is required");
  });

  it("rejects options out of range", async () => {
    uploads("default", 1);
    const err = await t.jobs
      .submitJob({
        sources: [{ kind: { case: "uploadKey", value: "uploads/default/u0/photo-0.jpg" } }],
        options: { target: { goal: { case: "quality", value: 0 } }, effort: 11 },
      })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toContain(
      "options.target.quality: expected a number between 1 and 100 but received 0",
    );
    expect((err as ConnectError).rawMessage).toContain("options.effort");
  });

  it("rejects another tenant's uploads", async () => {
    const err = await t.jobs
      .submitJob({ sources: [{ kind: { case: "uploadKey", value: "uploads/bob/u0/x.jpg" } }] }, tenantHeader("alice"))
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toContain("must be under uploads/alice/");
  });
});

describe("idempotency and tenancy", () => {
  it("returns the same job for the same idempotency key, per tenant", async () => {
    const [key] = uploads("default", 1);
    const request = {
      sources: [{ kind: { case: "uploadKey" as const, value: key as string } }],
      idempotencyKey: "batch-7",
    };
    const first = await t.jobs.submitJob(request);
    const again = await t.jobs.submitJob({ ...request, label: "different" });
    expect(again.created).toBe(false);
    expect(again.job?.id).toBe(first.job?.id);

    const [aliceKey] = uploads("alice", 1);
    const alice = await t.jobs.submitJob(
      { sources: [{ kind: { case: "uploadKey", value: aliceKey as string } }], idempotencyKey: "batch-7" },
      tenantHeader("alice"),
    );
    expect(alice.created).toBe(true);
    expect(alice.job?.id).not.toBe(first.job?.id);
  });

  it("makes one job from concurrent submissions with one key", async () => {
    const [key] = uploads("default", 1);
    const request = {
      sources: [{ kind: { case: "uploadKey" as const, value: key as string } }],
      idempotencyKey: "race",
    };
    const all = await Promise.all(Array.from({ length: 5 }, () => t.jobs.submitJob(request)));
    expect(new Set(all.map((r) => r.job?.id)).size).toBe(1);
    expect(all.filter((r) => r.created)).toHaveLength(1);
  });

  it("answers NotFound for another tenant's job on every RPC", async () => {
    const [key] = uploads("alice", 1);
    const { job } = await t.jobs.submitJob(
      { sources: [{ kind: { case: "uploadKey", value: key as string } }] },
      tenantHeader("alice"),
    );
    const jobId = job?.id ?? "";
    const bob = tenantHeader("bob");
    const calls = [
      () => t.jobs.getJob({ jobId }, bob),
      () => t.jobs.cancelJob({ jobId }, bob),
      () => t.jobs.getResults({ jobId }, bob),
      async () => {
        for await (const _ of t.jobs.watchJob({ jobId }, bob)) break;
      },
    ];
    for (const call of calls) {
      const err = await call().then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.NotFound);
    }
    expect((await t.jobs.listJobs({}, bob)).jobs).toHaveLength(0);
    expect((await t.jobs.listJobs({}, tenantHeader("alice"))).jobs.map((j) => j.id)).toEqual([jobId]);
    expect((await t.jobs.getJob({ jobId }, tenantHeader("alice"))).job?.id).toBe(jobId);
  });
});
