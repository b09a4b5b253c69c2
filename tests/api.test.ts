/**
 * The public API through the real gateway: every JobService RPC over Connect and over gRPC, tenant isolation
 * for each of them, the SSRF guard on manifests and image URLs, a WatchJob resumed mid-job, cancel, and signed
 * webhooks checked by a receiver. One worker with one slot, and AVIF output, so that jobs last long enough to
 * be watched and cancelled mid-way.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { verifyWebhook } from "@imgc/common";
import type { SourceSchema } from "@imgc/proto";
import { ErrorCode, ImageFormat, ItemState, type JobEvent, JobService, JobState, ManifestFormat } from "@imgc/proto";
import { afterAll, describe, expect, test } from "vitest";
import { allResults, codeOf, generateImages, terminalJobStates, useCluster, waitForJob } from "./harness/index.js";

const images = await generateImages(40, { minSide: 160, maxSide: 320, seed: 7 });

/** Serves the generated images (/img/<i>) and manifests (/manifest.csv) on loopback. */
const imageServer = createServer((req, res) => {
  const match = /^\/img\/(\d+)$/.exec(req.url ?? "");
  const image = match ? images[Number(match[1])] : undefined;
  if (image) res.writeHead(200, { "content-type": "application/octet-stream" }).end(image.body);
  else if (req.url === "/manifest.csv") res.end(`id,photo\n1,${imageUrl(0)}\n2,${imageUrl(1)}\n`);
  else res.writeHead(404).end();
});

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const deliveries: Delivery[] = [];
/** The webhook receiver: /ok answers 200; /flaky answers 500 twice, then 200; /down always 500. */
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (part) => {
    body += part;
  });
  req.on("end", () => {
    deliveries.push({ path: req.url ?? "", headers: req.headers, body });
    const flakyTries = deliveries.filter((d) => d.path === req.url).length;
    const refuse = (req.url === "/flaky" && flakyTries <= 2) || req.url === "/down";
    res.writeHead(refuse ? 500 : 200).end();
  });
});
await Promise.all(
  [imageServer, receiver].map((server) => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
);
const imagePort = (imageServer.address() as AddressInfo).port;
const hookPort = (receiver.address() as AddressInfo).port;
const imageUrl = (i: number) => `http://127.0.0.1:${imagePort}/img/${i}`;
afterAll(() => {
  for (const server of [imageServer, receiver]) {
    server.closeAllConnections();
    server.close();
  }
});

const SECRET_A = "acme-webhook-secret";
// Keys of 16 characters or more: the gateway refuses shorter ones.
const KEY_A = "keyA-0123456789abcdef";
const KEY_B = "keyB-0123456789abcdef";
const cluster = useCluster({
  workers: 1,
  workerEnv: { IMGC_WORKER_SLOTS: "1" },
  env: {
    IMGC_API_KEYS: `${KEY_A}:acme,${KEY_B}:globex`,
    // Only these two loopback ports: any other loopback URL stays refused.
    IMGC_FETCH_ALLOW: `127.0.0.1:${imagePort},127.0.0.1:${hookPort}`,
    IMGC_WEBHOOK_SECRETS: `acme:${SECRET_A},globex:other`,
    IMGC_WEBHOOK_MAX_ATTEMPTS: "4",
    IMGC_CHUNK_MAX_ITEMS: "2",
  },
});

type Jobs = Client<typeof JobService>;
type Transport = "connect" | "grpc";

function bearer(key: string): Interceptor {
  return (next) => async (request) => {
    if (key) request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

function client(transport: Transport, key: string): Jobs {
  const { gatewayHttp, gatewayGrpc } = cluster().addresses;
  const interceptors = [bearer(key)];
  return createClient(
    JobService,
    transport === "connect"
      ? createConnectTransport({ baseUrl: gatewayHttp, httpVersion: "1.1", interceptors })
      : createGrpcTransport({ baseUrl: gatewayGrpc, interceptors }),
  );
}

const urlSources = (from: number, count: number): MessageInitShape<typeof SourceSchema>[] =>
  Array.from({ length: count }, (_, i) => ({ kind: { case: "url" as const, value: imageUrl(from + i) } }));
/** AVIF at a high effort: each item takes a noticeable moment, so jobs can be caught mid-way. */
const slow = { format: ImageFormat.AVIF, effort: 6 };

async function uploadViaSlot(jobs: Jobs, name: string, body: Buffer): Promise<string> {
  const { slots } = await jobs.createUploads({
    files: [{ name, size: BigInt(body.length), contentType: "image/png" }],
  });
  const slot = slots[0];
  if (!slot) throw new Error("no upload slot");
  const put = await fetch(slot.url, { method: "PUT", body, headers: { "content-type": "image/png" } });
  expect(put.status).toBe(200);
  return slot.key;
}

async function uploadStreamed(jobs: Jobs, name: string, body: Buffer): Promise<string> {
  async function* parts() {
    yield { part: { case: "header" as const, value: { name, size: BigInt(body.length) } } };
    yield { part: { case: "chunk" as const, value: body.subarray(0, 100) } };
    yield { part: { case: "chunk" as const, value: body.subarray(100) } };
  }
  const response = await jobs.uploadImage(parts());
  expect(Number(response.size)).toBe(body.length);
  return response.key;
}

/** An item's end (an item also has a RUNNING event when a worker starts it). */
const isItemEnd = (e: JobEvent) => e.kind.case === "item" && e.kind.value.state !== ItemState.RUNNING;
const itemEnds = (events: readonly JobEvent[]) =>
  events.flatMap((e) => (e.kind.case === "item" && isItemEnd(e) ? [e.kind.value.itemId] : []));

/** The events of a watch until the job ends or `stopAfterItems` items ended. */
async function watch(jobs: Jobs, jobId: string, afterSequence = 0n, stopAfterItems = Number.POSITIVE_INFINITY) {
  const events: JobEvent[] = [];
  const abort = new AbortController();
  try {
    for await (const { event } of jobs.watchJob({ jobId, afterSequence }, { signal: abort.signal })) {
      if (!event) continue;
      events.push(event);
      const items = events.filter(isItemEnd).length;
      if (event.kind.case === "job" && terminalJobStates.has(event.kind.value.state)) break;
      if (items >= stopAfterItems) break;
    }
  } finally {
    abort.abort();
  }
  return events;
}

describe.each<Transport>(["connect", "grpc"])("every RPC over %s", (transport) => {
  test("uploads, submits, follows and reads a job; lists it; cancel of an ended job changes nothing", async () => {
    const jobs = client(transport, KEY_A);
    const [a, b] = images as [(typeof images)[0], (typeof images)[0]];
    const slotKey = await uploadViaSlot(jobs, `slot-${a.name}`, a.body);
    const streamedKey = await uploadStreamed(jobs, `streamed-${b.name}`, b.body);
    expect(slotKey).toMatch(/^uploads\/acme\//);
    expect(streamedKey).toMatch(/^uploads\/acme\//);
    const { job } = await jobs.submitJob({
      sources: [{ kind: { case: "uploadKey", value: slotKey } }, { kind: { case: "uploadKey", value: streamedKey } }],
      options: { format: ImageFormat.WEBP },
      label: `rpc-${transport}`,
    });
    expect(job?.tenant).toBe("acme");
    const jobId = job?.id ?? "";
    const events = await watch(jobs, jobId);
    const last = events.at(-1);
    expect(last?.kind.case === "job" && last.kind.value.state).toBe(JobState.COMPLETED);
    expect(events.filter(isItemEnd)).toHaveLength(2);
    // Each item was announced when a worker started it, with the worker's id.
    const started = events.flatMap((e) =>
      e.kind.case === "item" && e.kind.value.state === ItemState.RUNNING ? [e.kind.value] : [],
    );
    expect(started.map((r) => r.itemId).sort()).toEqual(["000000", "000001"]);
    for (const item of started) expect(item.workerId).toBe("worker-1");
    expect((await jobs.getJob({ jobId })).job?.state).toBe(JobState.COMPLETED);
    const listed = await jobs.listJobs({ pageSize: 100 });
    expect(listed.jobs.map((j) => j.id)).toContain(jobId);
    const results = await jobs.getResults({ jobId, includeUrls: true });
    expect(results.results.map((r) => r.state)).toEqual([ItemState.DONE, ItemState.DONE]);
    expect(results.results.map((r) => r.sourceKey)).toEqual([slotKey, streamedKey]);
    expect(results.results.every((r) => r.downloadUrl.startsWith("http"))).toBe(true);
    expect((await jobs.cancelJob({ jobId })).job?.state).toBe(JobState.COMPLETED);
  });

  test("cancel of a running job ends it CANCELLED with no item left pending", async () => {
    const jobs = client(transport, KEY_A);
    const { job } = await jobs.submitJob({ sources: urlSources(2, 16), options: slow });
    const jobId = job?.id ?? "";
    // Work is under way (an item is done); then the only worker is frozen, so that items are still waiting
    // when the cancel comes, however fast the machine.
    await watch(jobs, jobId, 0n, 1);
    const worker = cluster().workers[0];
    if (!worker) throw new Error("no worker");
    await worker.kill("SIGSTOP");
    try {
      const cancelled = await jobs.cancelJob({ jobId });
      expect(cancelled.job?.state).toBe(JobState.CANCELLED);
      const ended = await waitForJob(jobs, jobId, { timeoutMs: 60_000 });
      expect(ended.state).toBe(JobState.CANCELLED);
      expect(ended.counts?.pending).toBe(0);
      expect(ended.counts?.running).toBe(0);
      const results = await allResults(jobs, jobId);
      expect(results).toHaveLength(16);
      expect(results.filter((r) => r.state === ItemState.PENDING || r.state === ItemState.RUNNING)).toEqual([]);
      expect(results.filter((r) => r.state === ItemState.DONE).length).toBeGreaterThanOrEqual(1);
      const cancelledItems = results.filter((r) => r.errorCode === ErrorCode.CANCELLED);
      expect(cancelledItems.length).toBeGreaterThanOrEqual(1);
      expect(ended.counts?.failed).toBe(cancelledItems.length);
    } finally {
      await worker.kill("SIGCONT");
    }
    // The thawed worker is a member again before the next test needs it.
    for (const deadline = Date.now() + 30_000; ; ) {
      const { workers } = await cluster().cluster.listWorkers({});
      if (workers.some((w) => w.id === worker.name)) break;
      if (Date.now() > deadline) throw new Error(`${worker.name} did not come back`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});

describe("tenants", () => {
  test("another tenant sees none of a job's RPCs, nor its uploads; no key is Unauthenticated", async () => {
    for (const transport of ["connect", "grpc"] as const) {
      const acme = client(transport, KEY_A);
      const globex = client(transport, KEY_B);
      const key = await uploadStreamed(acme, "mine.png", (images[3] as { body: Buffer }).body);
      const { job } = await acme.submitJob({ sources: [{ kind: { case: "uploadKey", value: key } }] });
      const jobId = job?.id ?? "";
      expect(await codeOf(globex.getJob({ jobId }))).toBe(Code.NotFound);
      expect(await codeOf(watch(globex, jobId))).toBe(Code.NotFound);
      expect(await codeOf(globex.cancelJob({ jobId }))).toBe(Code.NotFound);
      expect(await codeOf(globex.getResults({ jobId }))).toBe(Code.NotFound);
      expect((await globex.listJobs({ pageSize: 500 })).jobs.map((j) => j.id)).not.toContain(jobId);
      expect(await codeOf(globex.submitJob({ sources: [{ kind: { case: "uploadKey", value: key } }] }))).toBe(
        Code.InvalidArgument,
      );
      // The owner still sees it all.
      expect((await waitForJob(acme, jobId)).state).toBe(JobState.COMPLETED);
      for (const anonymous of [client(transport, ""), client(transport, "wrong-key")]) {
        expect(await codeOf(anonymous.getJob({ jobId }))).toBe(Code.Unauthenticated);
        expect(await codeOf(anonymous.listJobs({}))).toBe(Code.Unauthenticated);
        expect(await codeOf(anonymous.submitJob({ sources: urlSources(0, 1) }))).toBe(Code.Unauthenticated);
      }
    }
  });
});

describe("URL sources behind the SSRF guard", () => {
  test("a loopback manifest URL that is not allowed fails SubmitJob, naming why", async () => {
    const jobs = client("connect", KEY_A);
    const err = await jobs
      .submitJob({
        sources: [
          { kind: { case: "manifest", value: { content: { case: "url", value: "http://127.0.0.1:9/m.json" } } } },
        ],
      })
      .then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toBe(
      "refused http://127.0.0.1:9/m.json: 127.0.0.1 is a loopback address; allow it with IMGC_FETCH_ALLOW",
    );
  });

  test("a webhook URL the guard refuses fails SubmitJob", async () => {
    const jobs = client("grpc", KEY_A);
    const err = await jobs
      .submitJob({ sources: urlSources(0, 1), webhookUrl: "http://[::ffff:127.0.0.1]:9/hook" })
      .then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toBe(
      "webhook_url: refused http://[::ffff:127.0.0.1]:9/hook: ::ffff:7f00:1 is a loopback address; allow it with IMGC_FETCH_ALLOW",
    );
  });

  test("an inline manifest: the refused loopback image fails FETCH_REFUSED, the allowed ones compress", async () => {
    const jobs = client("grpc", KEY_A);
    const inline = JSON.stringify([imageUrl(4), { url: "http://127.0.0.1:9/secret.jpg" }, imageUrl(5)]);
    const { job } = await jobs.submitJob({
      sources: [{ kind: { case: "manifest", value: { content: { case: "inline", value: inline } } } }],
    });
    const ended = await waitForJob(jobs, job?.id ?? "", { timeoutMs: 60_000 });
    expect(ended.state).toBe(JobState.COMPLETED_WITH_ERRORS);
    const results = await allResults(jobs, ended.id);
    expect(results.map((r) => r.state)).toEqual([ItemState.DONE, ItemState.FAILED, ItemState.DONE]);
    expect(results[1]).toMatchObject({
      errorCode: ErrorCode.FETCH_REFUSED,
      sourceKey: "http://127.0.0.1:9/secret.jpg",
      errorMessage:
        "refused http://127.0.0.1:9/secret.jpg: 127.0.0.1 is a loopback address; allow it with IMGC_FETCH_ALLOW",
    });
    expect(results[0]?.sourceKey).toMatch(new RegExp(`^uploads/acme/${ended.id}/000000-`));
  });

  test("a CSV manifest fetched from an allowed host: its URL column becomes the items", async () => {
    const jobs = client("connect", KEY_A);
    const manifest = {
      content: { case: "url" as const, value: `http://127.0.0.1:${imagePort}/manifest.csv` },
      format: ManifestFormat.CSV,
    };
    const { job } = await jobs.submitJob({ sources: [{ kind: { case: "manifest", value: manifest } }] });
    const ended = await waitForJob(jobs, job?.id ?? "", { timeoutMs: 60_000 });
    expect(ended.state).toBe(JobState.COMPLETED);
    expect(ended.counts?.total).toBe(2);
  });
});

test("a watch aborted mid-job and resumed with after_sequence sees every item exactly once", async () => {
  const jobs = client("connect", KEY_A);
  const count = 10;
  const { job } = await jobs.submitJob({ sources: urlSources(20, count), options: slow });
  const jobId = job?.id ?? "";
  const first = await watch(jobs, jobId, 0n, 3);
  const firstItems = itemEnds(first);
  expect(firstItems.length).toBe(3);
  const lastSeen = first.at(-1)?.sequence ?? 0n;
  // The job goes on while nobody watches: at least one more item ends before the watch resumes.
  for (;;) {
    const counts = (await jobs.getJob({ jobId })).job?.counts;
    if ((counts?.done ?? 0) + (counts?.keptOriginal ?? 0) + (counts?.failed ?? 0) > firstItems.length) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const second = await watch(jobs, jobId, lastSeen);
  expect(second.every((e) => e.sequence > lastSeen)).toBe(true);
  const secondItems = itemEnds(second);
  const all = [...firstItems, ...secondItems];
  expect(all.toSorted()).toEqual(Array.from({ length: count }, (_, i) => String(i).padStart(6, "0")));
  const sequences = [...first, ...second].map((e) => e.sequence);
  expect(new Set(sequences).size).toBe(sequences.length);
  const end = second.at(-1);
  expect(end?.kind.case === "job" && end.kind.value.state).toBe(JobState.COMPLETED);
});

describe("webhooks", () => {
  async function deliveriesTo(path: string, count: number): Promise<Delivery[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const found = deliveries.filter((d) => d.path === path);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test("the job's end is POSTed signed; the receiver verifies it with the tenant's secret", async () => {
    const jobs = client("connect", KEY_A);
    const { job } = await jobs.submitJob({ sources: urlSources(6, 1), webhookUrl: `http://127.0.0.1:${hookPort}/ok` });
    await waitForJob(jobs, job?.id ?? "");
    const [delivery] = await deliveriesTo("/ok", 1);
    expect(delivery).toBeDefined();
    const { headers, body } = delivery as Delivery;
    expect(verifyWebhook(SECRET_A, headers, body)).toBe(true);
    expect(verifyWebhook("other", headers, body)).toBe(false);
    expect(verifyWebhook(SECRET_A, headers, body.replace("COMPLETED", "FAILED"))).toBe(false);
    expect(JSON.parse(body)).toMatchObject({
      event: "job.finished",
      job: { id: job?.id, state: "JOB_STATE_COMPLETED" },
    });
  });

  test("a receiver answering 500 twice, then 200, gets 3 attempts, each signed", async () => {
    const jobs = client("grpc", KEY_A);
    const { job } = await jobs.submitJob({
      sources: urlSources(7, 1),
      webhookUrl: `http://127.0.0.1:${hookPort}/flaky`,
    });
    await waitForJob(jobs, job?.id ?? "");
    const attempts = await deliveriesTo("/flaky", 3);
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) expect(verifyWebhook(SECRET_A, attempt.headers, attempt.body)).toBe(true);

    // No fourth: the third was accepted. A witness job, submitted now, whose receiver always answers 500 runs
    // the same backoff (1 s, 2 s, 4 s apart) from a later start: by the time the coordinator gives up on it,
    // after its fourth attempt, a fourth attempt to /flaky (4 s after the third) would have come.
    const { job: witness } = await jobs.submitJob({
      sources: urlSources(8, 1),
      webhookUrl: `http://127.0.0.1:${hookPort}/down`,
    });
    await waitForJob(jobs, witness?.id ?? "");
    for (const deadline = Date.now() + 60_000; ; ) {
      const gaveUp = cluster()
        .coordinator.jsonLogs()
        .some((l) => l.msg === "webhook gave up" && l.jobId === witness?.id);
      if (gaveUp) break;
      if (Date.now() > deadline) throw new Error("the coordinator never gave up on the witness webhook");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(deliveries.filter((d) => d.path === "/down")).toHaveLength(4);
    expect(deliveries.filter((d) => d.path === "/flaky")).toHaveLength(3);
  });
});
