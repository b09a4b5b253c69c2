/**
 * The internal plane attacked as an outsider on the cluster's network would (issue 11, items 1 and 4): the
 * coordinator's gRPC port and NATS, each reached directly, with no credential, a forged one, or the wrong
 * one. The harness runs the cluster secured exactly as `npm run up` does: NATS users with permissions, a
 * signing key whose public half the coordinator holds, a token per process.
 */
import { spawn } from "node:child_process";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  BROADCAST_SUBJECT,
  generateSigningKeys,
  JOBS_BUCKET,
  type MintOptions,
  mintToken,
  RESULTS_BUCKET,
} from "@imgc/common";
import { ClusterService, ItemState, JobService, JobState } from "@imgc/proto";
import { connect, type NatsConnection } from "nats";
import { afterAll, describe, expect, test } from "vitest";
import { childEnv, repoRoot } from "../../scripts/lib/local-stack.js";
import { codeOf, corpusFiles, uploadFixtures, useCluster, waitForJob } from "../harness/index.js";

const cluster = useCluster({ workers: 1 });

const sessions: Http2SessionManager[] = [];
afterAll(() => {
  for (const session of sessions) session.abort();
});

/** JobService and ClusterService straight on the coordinator, with this bearer token and tenant header. */
function coordinator(token?: string, tenant?: string) {
  const url = `http://${cluster().addresses.coordinator}`;
  const session = new Http2SessionManager(url);
  sessions.push(session);
  const headers: Interceptor = (next) => (request) => {
    if (token !== undefined) request.header.set("authorization", `Bearer ${token}`);
    if (tenant !== undefined) request.header.set("x-imgc-tenant", tenant);
    return next(request);
  };
  const transport = createGrpcTransport({ baseUrl: url, sessionManager: session, interceptors: [headers] });
  return { jobs: createClient(JobService, transport), cluster: createClient(ClusterService, transport) };
}

const mint = (options: MintOptions) => cluster().credentials.mint(options);

const JOB_ID = "AAAAAAAAAAAAAAAAAAAA";

/** Every RPC of the coordinator, each with a plausible request (streams drained). */
function everyRpc(c: { jobs: Client<typeof JobService>; cluster: Client<typeof ClusterService> }) {
  return {
    CreateUploads: () => c.jobs.createUploads({ files: [{ name: "a.jpg", size: 1n }] }),
    UploadImage: () => c.jobs.uploadImage((async function* () {})()),
    SubmitJob: () => c.jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: "uploads/default/x.jpg" } }] }),
    GetJob: () => c.jobs.getJob({ jobId: JOB_ID }),
    ListJobs: () => c.jobs.listJobs({}),
    WatchJob: async () => {
      for await (const _ of c.jobs.watchJob({ jobId: JOB_ID }));
    },
    CancelJob: () => c.jobs.cancelJob({ jobId: JOB_ID }),
    GetResults: () => c.jobs.getResults({ jobId: JOB_ID }),
    ClaimChunk: () => c.cluster.claimChunk({ workerId: "worker-1", jobId: JOB_ID, index: 0, delivery: 1 }),
    ReportItem: () =>
      c.cluster.reportItem({
        workerId: "worker-1",
        jobId: JOB_ID,
        result: { itemId: "000000", state: ItemState.DONE, outputKey: "outputs/other/x.webp" },
      }),
    ReportItems: () =>
      c.cluster.reportItems({
        workerId: "worker-1",
        jobId: JOB_ID,
        results: [{ itemId: "000000", state: ItemState.DONE, outputKey: "outputs/other/x.webp" }],
      }),
    CompleteChunk: () => c.cluster.completeChunk({ workerId: "worker-1", jobId: JOB_ID, index: 0 }),
    ListWorkers: () => c.cluster.listWorkers({}),
    DrainWorker: () => c.cluster.drainWorker({ workerId: "worker-1" }),
    GetQueueStats: () => c.cluster.getQueueStats({}),
  };
}

async function codesOf(c: ReturnType<typeof coordinator>): Promise<Record<string, Code | "ok">> {
  const out: Record<string, Code | "ok"> = {};
  for (const [name, call] of Object.entries(everyRpc(c))) out[name] = await codeOf(call());
  return out;
}

describe("the coordinator's gRPC port", () => {
  test("the secured cluster compresses a job end to end (workers and gateway hold working credentials)", async () => {
    const c = cluster();
    const { uploads } = await uploadFixtures(c.storage, corpusFiles("photos").slice(0, 2));
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((u) => ({ kind: { case: "uploadKey" as const, value: u.key } })),
    });
    const done = await waitForJob(c.jobs, job?.id ?? "");
    expect(done.state).toBe(JobState.COMPLETED);
  });

  test("a caller without credentials, or with a forged, foreign or expired token, is refused on every RPC", async () => {
    const c = cluster();
    const foreign = mintToken(generateSigningKeys().privateKey, { role: "coordinator", sub: "mallory" });
    const expired = mint({ role: "coordinator", sub: "old", ttlS: 1, now: Date.now() - 10_000 });
    const [prefix, , signature] = c.credentials.operatorToken.split(".");
    const claims = Buffer.from(JSON.stringify({ role: "coordinator", sub: "op", exp: 4e9 })).toString("base64url");
    const edited = `${prefix}.${claims}.${signature}`;
    for (const token of [undefined, foreign, expired, edited, "garbage"]) {
      const codes = await codesOf(coordinator(token, "default"));
      expect(codes, String(token).slice(0, 12)).toEqual(
        Object.fromEntries(Object.keys(codes).map((rpc) => [rpc, Code.Unauthenticated])),
      );
    }
  });

  test("a worker's token works its own chunks only: no jobs, no drains, no reports as another worker", async () => {
    const worker = coordinator(mint({ role: "worker", sub: "worker-1" }));
    for (const call of [
      () => worker.jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: "uploads/default/x.jpg" } }] }),
      () => worker.jobs.getJob({ jobId: JOB_ID }),
      () => worker.cluster.drainWorker({ workerId: "worker-1" }),
      () => worker.cluster.listWorkers({}),
      () => worker.cluster.reportItem({ workerId: "worker-2", jobId: JOB_ID, result: { itemId: "000000" } }),
      () => worker.cluster.reportItems({ workerId: "worker-2", jobId: JOB_ID, results: [{ itemId: "000000" }] }),
      () => worker.cluster.claimChunk({ workerId: "worker-2", jobId: JOB_ID, index: 0 }),
      () => worker.cluster.completeChunk({ workerId: "worker-2", jobId: JOB_ID, index: 0 }),
    ]) {
      expect(await codeOf(call())).toBe(Code.PermissionDenied);
    }
    // As itself it gets through to the coordinator, which does not know this job.
    expect(await codeOf(worker.cluster.claimChunk({ workerId: "worker-1", jobId: JOB_ID, index: 0 }))).toBe(
      Code.NotFound,
    );
    // A tenant header from a worker is refused, not ignored.
    const injected = coordinator(mint({ role: "worker", sub: "worker-1" }), "acme");
    expect(await codeOf(injected.cluster.claimChunk({ workerId: "worker-1", jobId: JOB_ID, index: 0 }))).toBe(
      Code.PermissionDenied,
    );
  });

  test("a 10 KB or 100 KB job id sent straight to the coordinator is NotFound, quoted as a short prefix", async () => {
    const service = coordinator(mint({ role: "service", sub: "billing", tenants: ["acme"] }));
    for (const size of [10_000, 100_000]) {
      const jobId = "k".repeat(size);
      const err = await service.jobs.getJob({ jobId }, { timeoutMs: 10_000 }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      // It used to echo the id whole: too large for gRPC metadata (RESOURCE_EXHAUSTED), or a stalled call.
      expect([err?.code, err?.rawMessage]).toEqual([Code.NotFound, `job "${"k".repeat(64)}…" not found`]);
    }
  });

  test("a gateway's token acts for the tenant it names; a service's only for the tenants it was given", async () => {
    const c = cluster();
    const { uploads } = await uploadFixtures(c.storage, corpusFiles("photos").slice(0, 1), { tenant: "acme" });
    const gateway = mint({ role: "gateway", sub: "gw" });
    const { job } = await coordinator(gateway, "acme").jobs.submitJob({
      sources: [{ kind: { case: "uploadKey", value: uploads[0]?.key ?? "" } }],
    });
    const jobId = job?.id ?? "";
    expect(job?.tenant).toBe("acme");
    expect((await coordinator(gateway, "acme").jobs.getJob({ jobId })).job?.id).toBe(jobId);
    expect(await codeOf(coordinator(gateway, "beta").jobs.getJob({ jobId }))).toBe(Code.NotFound);

    const acmeService = mint({ role: "service", sub: "billing", tenants: ["acme"] });
    expect((await coordinator(acmeService).jobs.getJob({ jobId })).job?.tenant).toBe("acme");
    const betaService = mint({ role: "service", sub: "sync", tenants: ["beta"] });
    expect(await codeOf(coordinator(betaService, "acme").jobs.getJob({ jobId }))).toBe(Code.PermissionDenied);
    expect(await codeOf(coordinator(betaService).jobs.getJob({ jobId }))).toBe(Code.NotFound);
    // An operator reads any tenant's jobs and drives no job.
    const operator = coordinator(c.credentials.operatorToken, "acme");
    expect((await operator.jobs.getJob({ jobId })).job?.id).toBe(jobId);
    expect(await codeOf(operator.jobs.cancelJob({ jobId }))).toBe(Code.PermissionDenied);
  });
});

describe("NATS", () => {
  const opened: NatsConnection[] = [];
  afterAll(async () => {
    await Promise.allSettled(opened.map((nc) => nc.close()));
  });
  async function as(role: "coordinator" | "worker" | "gateway"): Promise<NatsConnection> {
    const nc = await connect({ servers: cluster().addresses.nats, ...cluster().nats.credentials(role) });
    opened.push(nc);
    return nc;
  }
  const bytes = new TextEncoder().encode('{"forged":true}');

  test("a client without credentials, or with a wrong password, is refused", async () => {
    const url = cluster().addresses.nats;
    await expect(connect({ servers: url, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    const { user } = cluster().nats.credentials("worker");
    await expect(connect({ servers: url, reconnect: false, user, pass: "guess" })).rejects.toThrow(
      /Authorization Violation/,
    );
  });

  test("with a worker's credentials: no chunks published, no job state written, no control messages sent", async () => {
    const worker = await as("worker");
    const js = worker.jetstream();
    await expect(js.publish("imgc.tasks.normal", bytes)).rejects.toThrow(/Permissions Violation/);
    for (const bucket of [JOBS_BUCKET, RESULTS_BUCKET, "imgc-chunks"]) {
      const kv = await js.views.kv(bucket, { bindOnly: true });
      await expect(kv.put("forged", bytes), bucket).rejects.toThrow(/Permissions Violation/);
    }
    await expect(worker.request("imgc.control.worker-1", bytes, { timeout: 5_000 })).rejects.toThrow(
      /Permissions Violation/,
    );
    // Nor cancel another tenant's work on every worker: only coordinators publish the cancel broadcast.
    await expect(worker.request(BROADCAST_SUBJECT, bytes, { timeout: 5_000 })).rejects.toThrow(/Permissions Violation/);
    // Nor may it change the streams under the queue.
    const jsm = await worker.jetstreamManager();
    await expect(jsm.streams.delete("IMGC_TASKS")).rejects.toThrow(/Permissions Violation/);
    // What it could not write is not there.
    const admin = (await as("coordinator")).jetstream();
    for (const bucket of [JOBS_BUCKET, RESULTS_BUCKET]) {
      expect(await (await admin.views.kv(bucket, { bindOnly: true })).get("forged")).toBeNull();
    }
  });

  test("the gateway's NATS user may do nothing but connect", async () => {
    const gateway = await as("gateway");
    await expect(gateway.jetstream().publish("imgc.tasks.normal", bytes)).rejects.toThrow(/Permissions Violation/);
    await expect(gateway.request("imgc.control.worker-1", bytes, { timeout: 5_000 })).rejects.toThrow(
      /Permissions Violation/,
    );
  });
});

describe("secure by default", () => {
  const children = new Set<ReturnType<typeof spawn>>();
  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
  });

  /**
   * Runs a service with exactly `env` until it exits (a refused configuration exits before connecting), or until
   * it logs "ready" (then it is stopped, and the answer says it started).
   */
  function exitOf(
    kind: string,
    env: Record<string, string>,
  ): Promise<{ code: number | "started" | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", `${kind}/src/main.ts`], {
        cwd: repoRoot,
        env: childEnv(env),
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      let stderr = "";
      child.stderr?.on("data", (part) => {
        stderr += part;
      });
      child.stdout?.on("data", (part: Buffer) => {
        if (!part.toString().includes('"msg":"ready"')) return;
        child.kill("SIGKILL");
        resolve({ code: "started", stderr });
      });
      child.on("exit", (code) => {
        children.delete(child);
        resolve({ code, stderr });
      });
    });
  }

  test("a coordinator without a public key, or without NATS credentials, refuses to start and says which", async () => {
    const c = cluster();
    const base = { ...c.env, IMGC_COORDINATOR_PORT: "0", IMGC_COORDINATOR_HTTP_PORT: "0" };
    const noKey = await exitOf("coordinator", { ...base, ...c.nats.credentialsEnv("coordinator") });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toMatch(/IMGC_AUTH_PUBLIC_KEY \(or IMGC_AUTH_PUBLIC_KEY_FILE\) is not set/);
    const noNats = await exitOf("coordinator", { ...base, IMGC_AUTH_PUBLIC_KEY: c.credentials.publicKey });
    expect(noNats.code).not.toBe(0);
    expect(noNats.stderr).toMatch(/IMGC_NATS_USER and IMGC_NATS_PASSWORD .* are not set/);
  });

  test("a worker or a gateway without its token refuses to start and says which setting is missing", async () => {
    const c = cluster();
    const worker = await exitOf("worker", { ...c.env, ...c.nats.credentialsEnv("worker"), IMGC_WORKER_HTTP_PORT: "0" });
    expect(worker.code).not.toBe(0);
    expect(worker.stderr).toMatch(/IMGC_AUTH_TOKEN \(or IMGC_AUTH_TOKEN_FILE\) is not set, so the worker/);
    const gateway = await exitOf("gateway", {
      ...c.env,
      ...c.nats.credentialsEnv("gateway"),
      IMGC_GATEWAY_PORT: "0",
      IMGC_GATEWAY_GRPC_PORT: "0",
    });
    expect(gateway.code).not.toBe(0);
    expect(gateway.stderr).toMatch(/IMGC_AUTH_TOKEN \(or IMGC_AUTH_TOKEN_FILE\) is not set, so the gateway/);
  });
});
