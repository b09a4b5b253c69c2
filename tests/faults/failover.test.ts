/**
 * Scenarios 10 to 13: two coordinators on one NATS, one leading, while jobs run. The leader is killed, frozen past
 * its lease and thawed, both are restarted in turn, and both die; every job still ends with exactly one correct
 * output per image (the audit of audit.ts), nothing is published, counted or ended twice, and clients of the
 * gateway see a pause, never an error.
 *
 * The lease is 2 s here (IMGC_LEASE_MS); AckWait a full minute, so a job that ends soon after the fault did not
 * wait for JetStream to redeliver anything.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ItemState, type JobEvent, JobService } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Cluster, useCluster, waitForJob } from "../harness/index.js";
import {
  type Batch,
  elapsed,
  expectNothingLost,
  faultTimings,
  faultWorkerEnv,
  figure,
  followJob,
  logsWith,
  natsOf,
  republishedChunks,
  smallImages,
  submitBatch,
  tasksPublished,
  uploadBatch,
  waitForProgress,
} from "./fault-kit.js";

const LEASE_MS = 2_000;
const ACK_WAIT_MS = 60_000;
const TENANTS = ["tenant-a", "tenant-b", "tenant-c"] as const;

/** Counts the webhook deliveries per job (the job id is in the body). */
const hooks = new Map<string, number>();
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (part) => {
    body += part;
  });
  req.on("end", () => {
    const id = (JSON.parse(body) as { job?: { id?: string } }).job?.id ?? "?";
    hooks.set(id, (hooks.get(id) ?? 0) + 1);
    res.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
afterAll(() => {
  receiver.closeAllConnections();
  receiver.close();
});

const cluster = useCluster({
  workers: 4,
  coordinators: 2,
  env: {
    ...faultTimings,
    IMGC_ACK_WAIT_MS: String(ACK_WAIT_MS),
    IMGC_LEASE_MS: String(LEASE_MS),
    IMGC_API_KEYS: TENANTS.map((tenant) => `key-${tenant}-0123456789:${tenant}`).join(","),
    IMGC_RATE_LIMIT_RPS: "0",
    IMGC_FETCH_ALLOW: new URL(hookUrl).host,
    // Webhooks are sent signed or not at all.
    IMGC_WEBHOOK_SECRET: "failover-webhook-secret",
  },
  workerEnv: faultWorkerEnv,
});

function clientFor(tenant: string): Client<typeof JobService> {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer key-${tenant}-0123456789`);
    return next(request);
  };
  return createClient(
    JobService,
    createConnectTransport({ baseUrl: cluster().addresses.gatewayHttp, httpVersion: "1.1", interceptors: [bearer] }),
  );
}

interface Tenant {
  tenant: string;
  jobs: Client<typeof JobService>;
  batch: Batch;
}
let tenants: Tenant[];
let nc: NatsConnection;
beforeAll(async () => {
  // 500 images over the three tenants.
  const images = await smallImages(501);
  tenants = await Promise.all(
    TENANTS.map(async (tenant, i) => ({
      tenant,
      jobs: clientFor(tenant),
      batch: await uploadBatch(cluster(), images.slice(i * 167, (i + 1) * 167), { tenant }),
    })),
  );
  nc = await natsOf(cluster());
}, 180_000);
afterAll(async () => {
  await nc?.close();
});

const everyCoordinatorLog = (c: Cluster) => c.coordinators.flatMap((service) => service.jsonLogs());

async function leader(c: Cluster): Promise<number> {
  const deadline = Date.now() + 4 * LEASE_MS + 5_000;
  for (;;) {
    const slot = await c.leaderSlot();
    if (slot !== undefined) return slot;
    if (Date.now() > deadline) throw new Error("no coordinator leads");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every tenant's job, submitted at once, each followed over WatchJob through the gateway. */
async function submitAll() {
  return Promise.all(
    tenants.map(async (t) => {
      const job = await submitBatch(t.jobs, t.batch);
      return { ...t, job, follower: followJob(t.jobs, job.id) };
    }),
  );
}

type Running = Awaited<ReturnType<typeof submitAll>>;

/** Each job ended with nothing lost, its watcher saw its end, and every item's end exactly once. */
async function expectAllWell(c: Cluster, running: Running) {
  for (const r of running) {
    await waitForJob(r.jobs, r.job.id, { timeoutMs: ACK_WAIT_MS });
    await r.follower.done;
    await expectNothingLost({ ...c, jobs: r.jobs }, r.job.id, r.batch);
    const ends = itemEnds(r.follower.events);
    expect(ends.map((e) => e.itemId).sort(), `${r.tenant}: each item's end once`).toEqual(
      Array.from({ length: r.batch.uploads.length }, (_, i) => String(i).padStart(6, "0")),
    );
    const finals = r.follower.events.filter((e) => e.kind.case === "job" && e.kind.value.finishedAt);
    expect(finals, `${r.tenant}: one final event`).toHaveLength(1);
  }
}

function itemEnds(events: readonly JobEvent[]) {
  return events.flatMap((e) =>
    e.kind.case === "item" && e.kind.value.state !== ItemState.RUNNING && e.kind.value.state !== ItemState.PENDING
      ? [{ itemId: e.kind.value.itemId, at: e.time ? timestampMs(e.time) : 0 }]
      : [],
  );
}

describe("the leader dies mid-job", () => {
  test("SIGKILL under load from 3 tenants: a follower takes over within the lease, results stop for at most the lease plus 2 s, watchers see every event once", async () => {
    const c = cluster();
    const publishedBefore = await tasksPublished(nc);
    const running = await submitAll();
    await waitForProgress(running[0]?.jobs as Client<typeof JobService>, running[0]?.job.id ?? "", 0.2, 0.5);
    const victim = await leader(c);
    const killedAt = Date.now();
    await c.coordinatorAt(victim).kill("SIGKILL");
    const next = await leader(c);
    const tookOverMs = elapsed(killedAt);
    await expectAllWell(c, running);

    expect(next).not.toBe(victim);
    // The longest stretch without a recorded result, around the kill.
    const times = running
      .flatMap((r) => itemEnds(r.follower.events).map((e) => e.at))
      .filter((at) => at > 0)
      .sort((a, b) => a - b);
    const before = times.filter((at) => at <= killedAt).at(-1) ?? killedAt;
    const after = times.find((at) => at > killedAt) ?? killedAt;
    const pauseMs = after - before;
    expect(pauseMs).toBeLessThanOrEqual(LEASE_MS + 2_000);
    // No chunk was published twice: the stream stored each once (plus republishes of chunks nobody finished).
    const chunks = running.reduce((sum, r) => sum + r.job.chunkCount, 0);
    const republished = running.reduce((sum, r) => sum + republishedChunks(everyCoordinatorLog(c), r.job.id), 0);
    expect((await tasksPublished(nc)) - publishedBefore).toBe(chunks + republished);
    figure("10 leader SIGKILL", { tookOverMs, noResultsForMs: pauseMs, leaseMs: LEASE_MS, chunks, republished });
    await c.restartCoordinator(victim);
  });
});

describe("a leader frozen past its lease", () => {
  test("SIGSTOP then SIGCONT: a follower takes over, and nothing the old leader does afterwards lands", async () => {
    const c = cluster();
    const publishedBefore = await tasksPublished(nc);
    const running = await Promise.all(
      tenants.map(async (t) => {
        const { job } = await t.jobs.submitJob({
          sources: [{ kind: { case: "s3Prefix", value: { bucket: "", prefix: t.batch.prefix } } }],
          options: { format: 2 /* WEBP */, target: { goal: { case: "quality", value: 75 } } },
          webhookUrl: hookUrl,
        });
        if (!job) throw new Error("no job");
        return { ...t, job, follower: followJob(t.jobs, job.id) };
      }),
    );
    await waitForProgress(running[0]?.jobs as Client<typeof JobService>, running[0]?.job.id ?? "", 0.2, 0.5);
    const frozen = await leader(c);
    const old = c.coordinatorAt(frozen);
    await old.kill("SIGSTOP");
    const stoppedAt = Date.now();
    // The other one leads once the frozen one's lease has run out.
    const next = await leader(c);
    expect(next).not.toBe(frozen);
    // Let the new leader work a while, then wake the old one with everything it had in flight.
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
    await old.kill("SIGCONT");
    const thawedAt = Date.now();
    await expectAllWell(c, running);

    // It noticed on waking that its lease was gone, and stepped down.
    const lost = logsWith(old.jsonLogs(), "leadership lost").filter((l) => (l.time as number) >= stoppedAt);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    // Each job ended once: one webhook, one job-ended log line over both coordinators.
    for (const r of running) {
      expect(hooks.get(r.job.id), `${r.tenant}: webhooks`).toBe(1);
      const endings = logsWith(everyCoordinatorLog(c), "job ended").filter((l) => l.jobId === r.job.id);
      expect(endings, `${r.tenant}: job ended`).toHaveLength(1);
    }
    // No chunk published twice.
    const chunks = running.reduce((sum, r) => sum + r.job.chunkCount, 0);
    const republished = running.reduce((sum, r) => sum + republishedChunks(everyCoordinatorLog(c), r.job.id), 0);
    expect((await tasksPublished(nc)) - publishedBefore).toBe(chunks + republished);
    // Nothing it wrote after waking: no result counted, no job record written, in its name since.
    const after = old.jsonLogs().filter((l) => (l.time as number) >= thawedAt);
    expect(logsWith(after, "job ended")).toEqual([]);
    expect(logsWith(after, "chunk republished")).toEqual([]);
    figure("11 leader SIGSTOP past the lease", { frozenForMs: thawedAt - stoppedAt, leaseMs: LEASE_MS, chunks });
  });
});

describe("coordinators restarted while jobs run", () => {
  test("a rolling restart of every coordinator, one at a time: every job completes", async () => {
    const c = cluster();
    const running = await submitAll();
    for (let slot = 0; slot < c.coordinators.length && slot < 2; slot++) {
      await waitForProgress(running[0]?.jobs as Client<typeof JobService>, running[0]?.job.id ?? "", 0.1, 0.3).catch(
        () => 1,
      );
      await c.restartCoordinator(slot);
    }
    await expectAllWell(c, running);
    figure("12 rolling restart", { coordinators: 2 });
  });

  test("both coordinators killed, one started: it resumes every job", async () => {
    const c = cluster();
    const running = await submitAll();
    await waitForProgress(running[0]?.jobs as Client<typeof JobService>, running[0]?.job.id ?? "", 0.2, 0.5);
    await Promise.all([c.coordinatorAt(0).kill("SIGKILL"), c.coordinatorAt(1).kill("SIGKILL")]);
    const downAt = Date.now();
    const survivor = await c.restartCoordinator(1);
    await leader(c);
    const ledAfterMs = elapsed(downAt);
    await expectAllWell(c, running);
    const resumed = logsWith(survivor.jsonLogs(), "job resumed").map((l) => l.jobId);
    for (const r of running) {
      const { job } = await r.jobs.getJob({ jobId: r.job.id });
      // A job that had ended before the kill needs no resuming; every other one was resumed by the survivor.
      if (job?.finishedAt && timestampMs(job.finishedAt) < downAt) continue;
      expect(resumed, `${r.tenant}: resumed`).toContain(r.job.id);
    }
    figure("13 both coordinators SIGKILL", { ledAfterMs, leaseMs: LEASE_MS });
    await c.restartCoordinator(0);
  });
});
