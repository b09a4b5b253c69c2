/**
 * Scenario 9: load. Ten jobs of 200 images each, from three tenants (4, 3 and 3 jobs), submitted at once through
 * the gateway with each tenant's API key. All complete, with exactly one correct output per image, and each
 * tenant's share of the cluster is measured while all three have work queued.
 *
 * The fairness the cluster promises (docs/reliability.md): within a priority, the coordinator releases chunks
 * onto the stream taking the tenants in turn, so while several tenants have work queued each gets an equal
 * share of the workers, however many jobs each has; a tenant's own jobs go in the order they came. No tenant
 * waits for another's backlog.
 */
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type Job, JobService } from "@imgc/proto";
import { beforeAll, expect, test } from "vitest";
import { type Fixture, useCluster, waitForJob } from "../harness/index.js";
import {
  type Batch,
  ended,
  expectNothingLost,
  faultTimings,
  faultWorkerEnv,
  figure,
  smallImages,
  submitBatch,
  uploadBatch,
} from "./fault-kit.js";

const TENANTS = [
  { tenant: "tenant-a", key: "key-a-0123456789abcdef", jobs: 4 },
  { tenant: "tenant-b", key: "key-b-0123456789abcdef", jobs: 3 },
  { tenant: "tenant-c", key: "key-c-0123456789abcdef", jobs: 3 },
] as const;
const JOB_ITEMS = 200;

const cluster = useCluster({
  workers: 4,
  env: {
    ...faultTimings,
    IMGC_API_KEYS: TENANTS.map((t) => `${t.key}:${t.tenant}`).join(","),
    IMGC_RATE_LIMIT_RPS: "0",
  },
  workerEnv: faultWorkerEnv,
});

function clientFor(key: string): Client<typeof JobService> {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
  return createClient(
    JobService,
    createConnectTransport({ baseUrl: cluster().addresses.gatewayHttp, httpVersion: "1.1", interceptors: [bearer] }),
  );
}

let images: Fixture[];
beforeAll(async () => {
  images = (await smallImages()).slice(0, JOB_ITEMS);
});

interface Sample {
  at: number;
  /** Items ended, per tenant. */
  ended: Map<string, number>;
}

test("10 concurrent jobs of 200 images from 3 tenants all complete, and each tenant gets its share", async () => {
  const c = cluster();
  const tenants = await Promise.all(
    TENANTS.map(async (t) => ({
      ...t,
      client: clientFor(t.key),
      batch: await uploadBatch(c, images, { tenant: t.tenant }),
    })),
  );

  // All ten at once.
  const started = Date.now();
  const submitted = await Promise.all(
    tenants.flatMap((t) =>
      Array.from({ length: t.jobs }, async (_, n) => ({
        tenant: t.tenant,
        client: t.client,
        batch: t.batch,
        job: await submitBatch(t.client, t.batch, { label: `${t.tenant} #${n + 1}` }),
      })),
    ),
  );
  expect(submitted).toHaveLength(10);

  // Progress per tenant, sampled until every job has ended.
  const samples: Sample[] = [];
  const endedAt = new Map<string, number>();
  for (;;) {
    const jobs = await Promise.all(
      submitted.map(async (s) => ({ ...s, now: (await s.client.getJob({ jobId: s.job.id })).job as Job })),
    );
    const sample: Sample = { at: Date.now() - started, ended: new Map() };
    for (const { tenant, job, now } of jobs) {
      sample.ended.set(tenant, (sample.ended.get(tenant) ?? 0) + ended(now));
      if (now.finishedAt && !endedAt.has(job.id)) endedAt.set(job.id, Date.now() - started);
    }
    samples.push(sample);
    if (endedAt.size === submitted.length) break;
    if (Date.now() - started > 170_000) throw new Error(`only ${endedAt.size} of 10 jobs ended in time`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const totalMs = Date.now() - started;

  // Every job complete, nothing lost, each tenant's outputs under its own prefix.
  for (const { job, client, tenant, batch } of submitted) {
    await waitForJob(client, job.id, { timeoutMs: 1 });
    // Every output listed, sized, downloaded and checked as a rendering of its own source, as in every scenario.
    const results = await expectNothingLost({ ...c, jobs: client }, job.id, batch as Batch);
    for (const result of results) expect(result.outputKey.startsWith(`outputs/${tenant}/${job.id}/`)).toBe(true);
  }

  // Fairness, measured while every tenant still had work: from the first sample with progress to the moment the
  // first tenant had nothing left.
  const contended = samples.filter((s) => TENANTS.every((t) => (s.ended.get(t.tenant) ?? 0) < t.jobs * JOB_ITEMS));
  const first = contended.find((s) => [...s.ended.values()].some((n) => n > 0)) ?? contended[0];
  const last = contended.at(-1);
  if (!first || !last) throw new Error("no sample was taken while all tenants had work");
  const gained = TENANTS.map((t) => ({
    tenant: t.tenant,
    jobs: t.jobs,
    items: (last.ended.get(t.tenant) ?? 0) - (first.ended.get(t.tenant) ?? 0),
  }));
  const all = gained.reduce((sum, g) => sum + g.items, 0);
  const shares = gained.map((g) => ({
    ...g,
    share: g.items / Math.max(1, all),
    // The share the promise above gives it: an equal one.
    expected: 1 / TENANTS.length,
  }));
  // Jain's index of the shares each tenant got relative to its expected share: 1 is exactly as promised.
  const ratios = shares.map((s) => s.share / s.expected);
  const jain = ratios.reduce((a, b) => a + b, 0) ** 2 / (ratios.length * ratios.reduce((a, b) => a + b * b, 0));
  const tenantEnd = (tenant: string) =>
    Math.max(...submitted.filter((s) => s.tenant === tenant).map((s) => endedAt.get(s.job.id) ?? 0));
  const firstProgress = (tenant: string) => samples.find((s) => (s.ended.get(tenant) ?? 0) > 0)?.at ?? totalMs;

  figure("9 load", {
    jobs: submitted.length,
    items: submitted.length * JOB_ITEMS,
    totalMs,
    itemsPerSecond: Math.round((submitted.length * JOB_ITEMS * 1000) / totalMs),
    contendedWindowMs: last.at - first.at,
    tenants: shares.map((s) => ({
      tenant: s.tenant,
      jobs: s.jobs,
      share: Number(s.share.toFixed(3)),
      expected: Number(s.expected.toFixed(3)),
      firstResultMs: firstProgress(s.tenant),
      allJobsEndedMs: tenantEnd(s.tenant),
    })),
    jainIndex: Number(jain.toFixed(3)),
  });

  // The promise, with room for a measurement over a few seconds on a busy machine: every tenant progresses from
  // the start, none gets less than half its share, and the shares are close to what was promised.
  for (const t of TENANTS)
    expect(firstProgress(t.tenant), `${t.tenant} waits for no backlog`).toBeLessThan(totalMs / 3);
  for (const s of shares) expect(s.share, `${s.tenant}'s share`).toBeGreaterThan(s.expected / 2);
  expect(jain).toBeGreaterThan(0.9);
}, 300_000);
