/**
 * What an operator relies on, through real processes: /metrics on the coordinator, a worker and the gateway
 * move with a job; /readyz and /healthz on each; one job's trace id in every process's logs; `imgc drain`
 * while a job runs (the worker finishes what it holds and leaves, the job completes without it); a worker
 * added mid-job takes work. One slot per worker and one item per chunk, so that the work spreads in small
 * steps a drain or a join can happen between.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { parseTraceparent, TRACEPARENT } from "@imgc/common";
import { ImageFormat, ItemState, JobState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { repoRoot } from "../scripts/lib/local-stack.js";
import {
  allResults,
  corpusFiles,
  generateImages,
  type Service,
  uploadFixtures,
  useCluster,
  waitForJob,
} from "./harness/index.js";

const cluster = useCluster({
  workers: 2,
  env: { IMGC_CHUNK_MAX_ITEMS: "1", IMGC_CACHE_TTL_MS: "0" },
  workerEnv: { IMGC_WORKER_SLOTS: "1" },
});

const uploadSource = (key: string) => ({ kind: { case: "uploadKey" as const, value: key } });

/** The worker's own metrics and health port, from its ready line. */
function httpOf(worker: Service): string {
  const ready = worker.jsonLogs().find((line) => line.msg === "ready");
  if (typeof ready?.httpPort !== "number") throw new Error(`${worker.name} named no httpPort in its ready line`);
  return `http://127.0.0.1:${ready.httpPort}`;
}

/** /metrics of a coordinator or worker answers Prometheus' credential; the gateway's (dev mode) anyone. */
async function scrape(base: string): Promise<string> {
  const internal = base !== cluster().addresses.gatewayHttp;
  const headers: Record<string, string> = internal
    ? { authorization: `Bearer ${cluster().credentials.metricsToken}` }
    : {};
  const response = await fetch(`${base}/metrics`, { headers });
  expect(response.status, `${base}/metrics`).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
}

/** The value of one series in Prometheus text; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs the imgc CLI as a user would; resolves with its exit code and output. */
function imgc(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "cli/src/main.ts", ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("metrics, health and tracing", () => {
  test("every process is alive and ready, and says so on its HTTP port", async () => {
    const c = cluster();
    const targets = {
      coordinator: c.addresses.coordinatorHttp,
      "worker-1": httpOf(c.workers[0] as Service),
      "worker-2": httpOf(c.workers[1] as Service),
      gateway: c.addresses.gatewayHttp,
    };
    for (const [name, base] of Object.entries(targets)) {
      const alive = await fetch(`${base}/healthz`);
      expect(alive.status, `${name} /healthz`).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      const body = (await ready.json()) as { status: string; checks: Record<string, string> };
      expect(ready.status, `${name} /readyz: ${JSON.stringify(body)}`).toBe(200);
      expect(
        Object.values(body.checks).every((status) => status === "ok"),
        name,
      ).toBe(true);
    }
    expect(
      Object.keys(((await (await fetch(`${targets["worker-1"]}/readyz`)).json()) as { checks: object }).checks).sort(),
    ).toEqual(["coordinator", "nats", "s3"]);
  });

  test("/metrics of the coordinator and a worker answers only Prometheus' credential (issue 11); probes stay open", async () => {
    const c = cluster();
    for (const base of [c.addresses.coordinatorHttp, httpOf(c.workers[0] as Service)]) {
      for (const headers of [
        {},
        { authorization: "Bearer not-the-metrics-token-0123" },
        { authorization: c.credentials.operatorToken },
      ]) {
        const refused = await fetch(`${base}/metrics`, { headers });
        expect(refused.status, `${base} ${JSON.stringify(headers)}`).toBe(401);
        expect(await refused.text()).not.toContain("imgc_");
      }
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(sample(await scrape(base), "process_start_time_seconds")).toBeGreaterThan(0);
    }
  });

  test("a job moves the counters on the coordinator, the workers and the gateway; its trace id is in every log", async () => {
    const c = cluster();
    const images = await generateImages(6, { seed: 7 });
    const { uploads } = await uploadFixtures(c.storage, images);
    // One more through the gateway's upload route, so the gateway stores bytes too.
    const extra = images[0]?.body ?? Buffer.alloc(0);
    const put = await fetch(`${c.addresses.gatewayHttp}/v1/uploads/extra.jpg`, {
      method: "PUT",
      headers: { "content-type": "image/jpeg", "content-length": String(extra.length) },
      body: extra,
    });
    expect(put.status).toBe(200);
    const stored = (await put.json()) as { key: string };

    const before = {
      coordinator: await scrape(c.addresses.coordinatorHttp),
      workers: await Promise.all(c.workers.map((w) => scrape(httpOf(w)))),
    };
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    let answered: string | null = null;
    const { job } = await c.jobs.submitJob(
      {
        sources: [...uploads.map((u) => uploadSource(u.key)), uploadSource(stored.key)],
        options: { format: ImageFormat.WEBP },
      },
      {
        headers: { [TRACEPARENT]: `00-${traceId}-b7ad6b7169203331-01` },
        onHeader: (headers) => (answered = headers.get(TRACEPARENT)),
      },
    );
    const jobId = job?.id ?? "";
    expect(parseTraceparent(answered)?.traceId).toBe(traceId);
    const finished = await waitForJob(c.jobs, jobId, { timeoutMs: 120_000 });
    expect(finished.state).toBe(JobState.COMPLETED);
    const items = 7;
    const results = await allResults(c.jobs, jobId);
    const outBytes = results.reduce((sum, r) => sum + Number(r.outputBytes), 0);
    const inBytes = results.reduce((sum, r) => sum + Number(r.inputBytes), 0);
    const done = results.filter((r) => r.state === ItemState.DONE).length;

    const coordinator = await scrape(c.addresses.coordinatorHttp);
    const moved = (text: string, was: string, series: string) => sample(text, series) - sample(was, series);
    expect(moved(coordinator, before.coordinator, 'imgc_items_total{state="done"}')).toBe(done);
    expect(
      moved(coordinator, before.coordinator, 'imgc_items_total{state="done"}') +
        moved(coordinator, before.coordinator, 'imgc_items_total{state="kept_original"}'),
    ).toBe(items);
    expect(moved(coordinator, before.coordinator, "imgc_bytes_in_total")).toBe(inBytes);
    expect(moved(coordinator, before.coordinator, "imgc_bytes_out_total")).toBe(outBytes);
    expect(moved(coordinator, before.coordinator, 'imgc_item_duration_seconds_count{format="webp"}')).toBe(done);
    expect(moved(coordinator, before.coordinator, 'imgc_jobs_submitted_total{priority="normal"}')).toBe(1);
    expect(moved(coordinator, before.coordinator, 'imgc_jobs_ended_total{state="completed"}')).toBe(1);
    expect(moved(coordinator, before.coordinator, "imgc_chunk_claims_total")).toBeGreaterThanOrEqual(items);
    expect(sample(coordinator, "imgc_workers_alive")).toBe(2);
    expect(sample(coordinator, "imgc_cluster_slots")).toBe(2);
    expect(coordinator).toMatch(/^imgc_queue_pending\{priority="normal",kind="compress"\} 0$/m);
    expect(coordinator).toMatch(/^imgc_queue_ack_pending\{priority="high",kind="compress"\} \d+$/m);
    expect(coordinator).toMatch(/^imgc_queue_pending\{priority="normal",kind="detect"\} 0$/m);

    // Each worker counts what it processed: together, every item (at least) once.
    const workers = await Promise.all(c.workers.map((w) => scrape(httpOf(w))));
    const processed = workers.reduce(
      (sum, text, i) =>
        sum +
        moved(text, before.workers[i] ?? "", 'imgc_worker_items_total{state="done"}') +
        moved(text, before.workers[i] ?? "", 'imgc_worker_items_total{state="kept_original"}'),
      0,
    );
    expect(processed).toBeGreaterThanOrEqual(items);
    const workerBytesOut = workers.reduce(
      (sum, text, i) => sum + moved(text, before.workers[i] ?? "", "imgc_worker_bytes_out_total"),
      0,
    );
    expect(workerBytesOut).toBeGreaterThanOrEqual(outBytes);
    expect(sample(workers[0] ?? "", "imgc_worker_slots")).toBe(1);

    const gateway = await scrape(c.addresses.gatewayHttp);
    expect(
      sample(gateway, 'imgc_gateway_rpc_requests_total{method="JobService/SubmitJob",code="OK"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(gateway, "imgc_gateway_upload_bytes_total")).toBeGreaterThanOrEqual(extra.length);
    expect(
      sample(
        gateway,
        'imgc_gateway_http_requests_total{port="http",route="/v1/uploads/:name",method="PUT",status="200"}',
      ),
    ).toBeGreaterThanOrEqual(1);

    // One trace id from the gateway's log through the coordinator's to every item line of the workers.
    const logs = async (file: string) =>
      (await readFile(file, "utf8")).split("\n").filter((line) => line.includes(traceId));
    const gatewayLines = await logs(c.gateway.logFile);
    expect(gatewayLines.some((line) => line.includes('"job submitted"') && line.includes(jobId))).toBe(true);
    const coordinatorLines = await logs(c.coordinator.logFile);
    expect(coordinatorLines.some((line) => line.includes('"job accepted"') && line.includes(jobId))).toBe(true);
    expect(coordinatorLines.some((line) => line.includes('"job ended"') && line.includes(jobId))).toBe(true);
    const itemLines = (await Promise.all(c.workers.map((w) => logs(w.logFile))))
      .flat()
      .filter((line) => line.includes('"msg":"item"') && line.includes(jobId));
    expect(new Set(itemLines.map((line) => (JSON.parse(line) as { item: string }).item)).size).toBe(items);
  });
});

describe("scaling while a job runs", () => {
  test("imgc drain: the worker finishes what it holds and leaves; the job completes with the others", async () => {
    const c = cluster();
    // Twice the photos: a couple of minutes of work for two one-slot workers on a small machine.
    const { uploads } = await uploadFixtures(c.storage, corpusFiles("photos"));
    const { uploads: more } = await uploadFixtures(c.storage, corpusFiles("photos"));
    const sources = [...uploads, ...more].map((u) => uploadSource(u.key));
    const { job } = await c.jobs.submitJob({ sources, options: { format: ImageFormat.WEBP } });
    const jobId = job?.id ?? "";
    const target = c.workers.find((w) => w.name === "worker-1") as Service;

    // Drain once worker-1 holds a chunk of this job.
    await until("worker-1 holds a chunk", async () => {
      const { workers } = await c.cluster.listWorkers({});
      return workers.find((w) => w.id === "worker-1")?.chunks.some((chunk) => chunk.startsWith(`${jobId}.`));
    });
    const drained = await imgc(["drain", "worker-1", "--wait", "--timeout", "120"], {
      IMGC_COORDINATOR_URL: c.addresses.coordinator,
      IMGC_AUTH_TOKEN: c.credentials.operatorToken,
    });
    expect(drained.code, drained.stderr).toBe(0);
    // What it holds is read from its last heartbeat (a second old at most): one chunk, or none between two.
    expect(drained.stdout).toMatch(/^draining worker-1: it pulls nothing more and finishes /);
    expect(drained.stdout).toMatch(/worker-1 has left/);
    expect((await target.exited).code).toBe(0);
    const { workers } = await c.cluster.listWorkers({});
    expect(workers.map((w) => w.id)).not.toContain("worker-1");

    const finished = await waitForJob(c.jobs, jobId, { timeoutMs: 240_000 });
    expect(finished.state).toBe(JobState.COMPLETED);
    const results = await allResults(c.jobs, jobId);
    expect(results).toHaveLength(sources.length);
    const by = (id: string) => results.filter((r) => r.workerId === id).length;
    // The chunk it held when asked was finished, not given back; the rest went to worker-2.
    expect(by("worker-1")).toBeGreaterThanOrEqual(1);
    expect(by("worker-2")).toBeGreaterThanOrEqual(1);
    expect(by("worker-1") + by("worker-2")).toBe(sources.length);
    expect(target.jsonLogs().some((line) => line.msg === "drained")).toBe(true);
    expect(target.jsonLogs().some((line) => line.msg === "drain timeout; releasing held chunks")).toBe(false);
  });

  test("a worker added while a job runs takes part of it", async () => {
    const c = cluster();
    // Three times the photos: one worker is still busy with them when the new one has started.
    const batches = await Promise.all([1, 2, 3].map(() => uploadFixtures(c.storage, corpusFiles("photos"))));
    const sources = batches.flatMap((batch) => batch.uploads).map((u) => uploadSource(u.key));
    const { job } = await c.jobs.submitJob({ sources, options: { format: ImageFormat.WEBP } });
    const jobId = job?.id ?? "";
    await until("the job has started", async () => {
      const { job: now } = await c.jobs.getJob({ jobId });
      return (now?.counts?.done ?? 0) + (now?.counts?.keptOriginal ?? 0) > 0;
    });
    const joined = await c.addWorker();
    const finished = await waitForJob(c.jobs, jobId, { timeoutMs: 240_000 });
    expect(finished.state).toBe(JobState.COMPLETED);
    const results = await allResults(c.jobs, jobId);
    expect(results.filter((r) => r.workerId === joined.name).length).toBeGreaterThanOrEqual(1);
    const metrics = await scrape(httpOf(joined));
    expect(sample(metrics, "imgc_worker_chunks_claimed_total")).toBeGreaterThanOrEqual(1);
    expect(sample(await scrape(c.addresses.coordinatorHttp), "imgc_workers_alive")).toBe(2);
  });
});
