import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Job } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import {
  endedJob,
  eventually,
  pullChunks,
  runChunk,
  startTestCoordinator,
  type TestCoordinator,
  tenantHeader,
} from "../testing/harness.js";
import { SWEEP_BATCH, uploadsExpiryDays } from "./retention.js";

let nats: TestNats;
let nc: NatsConnection;
let t: TestCoordinator | undefined;

beforeEach(async () => {
  nats = await startTestNats();
  nc = await nats.connect();
});

afterEach(async () => {
  await t?.coordinator.close();
  await nc.close();
  await nats.stop();
});

const code = (err: unknown) => ConnectError.from(err).code;

async function submitJob(c: TestCoordinator, key: string, retentionDays = 0) {
  c.storage.put(key, 1000);
  const { job } = await c.jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: key } }], retentionDays });
  return job?.id ?? "";
}

/** Runs every chunk on the stream as a worker would (outputs stored, messages acked). */
async function runChunks(c: TestCoordinator) {
  for (const p of await pullChunks(nc, 100)) {
    for (const itemId of await runChunk(c, "w1", p.chunk)) c.storage.put(`${p.chunk.outputPrefix}${itemId}.webp`, 400);
    p.ack();
  }
}

async function runJob(c: TestCoordinator, key: string, retentionDays = 0) {
  const id = await submitJob(c, key, retentionDays);
  await runChunks(c);
  return endedJob(c, id);
}

describe("retention", () => {
  it("expires an ended job after its retention and deletes it and its data by itself", async () => {
    // A "day" of 300 ms, swept every 100 ms.
    const c = await startTestCoordinator(nc, { settings: { retention: { days: 1, dayMs: 300, sweepMs: 100 } } });
    t = c;
    const job = await runJob(c, "uploads/default/r/1.jpg");
    if (!job.finishedAt) throw new Error("not ended");
    const finished = timestampMs(job.finishedAt);
    expect(job.expiresAt && timestampMs(job.expiresAt)).toBe(finished + 300);
    // A job asking for longer is kept past the default.
    const kept = await runJob(c, "uploads/default/r/2.jpg", 100);
    expect(kept.expiresAt && kept.finishedAt && timestampMs(kept.expiresAt) - timestampMs(kept.finishedAt)).toBe(
      30_000,
    );

    await eventually(async () => (await c.jobs.getJob({ jobId: job.id }).catch(code)) === Code.NotFound);
    expect(c.storage.objects.has("imgc/uploads/default/r/1.jpg")).toBe(false);
    expect(c.storage.objects.has(`imgc/outputs/default/${job.id}/000000.webp`)).toBe(false);
    expect((await c.jobs.getJob({ jobId: kept.id })).job?.id).toBe(kept.id);
    expect(c.storage.objects.has("imgc/uploads/default/r/2.jpg")).toBe(true);
  });

  it("keeps jobs forever with a retention of 0 days, and sweeps a bounded batch at a time", async () => {
    const c = await startTestCoordinator(nc, { settings: { retention: { days: 0, dayMs: 1, sweepMs: 3_600_000 } } });
    t = c;
    const forever = await runJob(c, "uploads/default/f/1.jpg");
    expect(forever.expiresAt).toBeUndefined();
    const ids: string[] = [];
    for (let i = 0; i < SWEEP_BATCH + 2; i++) ids.push(await submitJob(c, `uploads/default/f/${i + 2}.jpg`, 1));
    await runChunks(c);
    for (const id of ids) await endedJob(c, id);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await c.coordinator.sweepExpired()).toBe(SWEEP_BATCH);
    expect(await c.coordinator.sweepExpired()).toBe(2);
    for (const id of ids) expect(await c.jobs.getJob({ jobId: id }).catch(code)).toBe(Code.NotFound);
    expect((await c.jobs.getJob({ jobId: forever.id })).job?.id).toBe(forever.id);
  });

  it("takes the tenant's retention over the default, and the job's over both", async () => {
    const tenants = new Map([["acme", 2]]);
    const c = await startTestCoordinator(nc, {
      settings: { retention: { days: 0, tenants, dayMs: 1_000, sweepMs: 3_600_000 } },
    });
    t = c;
    const own = await runJob(c, "uploads/default/t/1.jpg");
    expect(own.expiresAt).toBeUndefined();
    c.storage.put("uploads/acme/t/1.jpg", 1000);
    c.storage.put("uploads/acme/t/2.jpg", 1000);
    const submitAcme = async (key: string, retentionDays = 0) =>
      (
        await c.jobs.submitJob(
          { sources: [{ kind: { case: "uploadKey", value: key } }], retentionDays },
          tenantHeader("acme"),
        )
      ).job?.id ?? "";
    const ids = [await submitAcme("uploads/acme/t/1.jpg"), await submitAcme("uploads/acme/t/2.jpg", 5)];
    await runChunks(c);
    const endedAcme = (jobId: string) =>
      eventually(async () => {
        const { job } = await c.jobs.getJob({ jobId }, tenantHeader("acme"));
        return job?.finishedAt ? job : null;
      });
    const kept = (job: Job) =>
      job.expiresAt && job.finishedAt ? timestampMs(job.expiresAt) - timestampMs(job.finishedAt) : 0;
    expect(kept(await endedAcme(ids[0] ?? ""))).toBe(2_000);
    expect(kept(await endedAcme(ids[1] ?? ""))).toBe(5_000);
    expect(uploadsExpiryDays({ days: 30, tenants })).toBe(31);
    expect(uploadsExpiryDays({ days: 30, tenants: new Map([["acme", 90]]) })).toBe(91);
    expect(uploadsExpiryDays({ days: 30, tenants: new Map([["acme", 0]]) })).toBe(0);
  });

  it("refuses a retention longer than ten years", async () => {
    const c = await startTestCoordinator(nc);
    t = c;
    c.storage.put("uploads/default/x.jpg", 10);
    const err = await c.jobs
      .submitJob({ sources: [{ kind: { case: "uploadKey", value: "uploads/default/x.jpg" } }], retentionDays: 5000 })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe(
      "retention_days: expected a number between 0 and 3650 but received 5000",
    );
  });
});
