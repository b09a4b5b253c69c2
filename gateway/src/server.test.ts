/**
 * The gateway on real ports (listen on 0), called by connect-node clients over Connect, gRPC-Web and gRPC,
 * and by plain HTTP. The coordinator and S3 are faked: they are not what is tested here.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { createLogger } from "@imgc/common";
import {
  ClusterService,
  JobService,
  JobState,
  Priority,
  TaskKind,
  TENANT_HEADER,
  type UploadImageRequest,
  type WatchJobRequest,
} from "@imgc/proto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { build, type Gateway } from "./server.js";
import { rejection } from "./testing/rejection.js";
import { buildTestGateway, fakeCoordinator } from "./testing/test-gateway.js";

const log = createLogger("gateway-test", "silent");
const run = promisify(execFile);
const KEY = "test-key-1";
const OPERATOR_KEY = "operator-key-1";

let gateway: Gateway;
let httpBase: string;
let grpcBase: string;
let webDir: string;
const sessions: Http2SessionManager[] = [];
const seenTenants: (string | null)[] = [];
const stored = new Map<string, number>();
let coordinatorReady = true;
let releaseWatch: () => void = () => {};

beforeAll(async () => {
  webDir = await mkdtemp(join(tmpdir(), "imgc-web-"));
  await writeFile(join(webDir, "index.html"), "<!doctype html><title>imgc</title>");
  const coordinator = createClient(
    JobService,
    createRouterTransport(
      ({ service }) =>
        service(JobService, {
          getJob(request) {
            if (request.jobId === "missing") throw new ConnectError("no job missing", Code.NotFound);
            return { job: { id: request.jobId, state: JobState.QUEUED } };
          },
          async *watchJob(request) {
            yield { event: { sequence: 1n, jobId: request.jobId } };
            // Held open until the test lets it go (or the gateway shuts down).
            await new Promise<void>((resolve) => {
              releaseWatch = resolve;
            });
            // The job's final event: a coordinator ends the stream after it.
            yield { event: { sequence: 2n, jobId: request.jobId, kind: { case: "job", value: ended(request.jobId) } } };
          },
        }),
      {
        router: {
          interceptors: [
            (next) => (request) => {
              seenTenants.push(request.header.get(TENANT_HEADER));
              return next(request);
            },
          ],
        },
      },
    ),
  );
  gateway = await build({
    log,
    coordinator,
    cluster: createClient(
      ClusterService,
      createRouterTransport(({ service }) =>
        service(ClusterService, {
          listWorkers: () => ({
            workers: [{ id: "worker-1", host: "a", slots: 4, busy: 2, chunks: ["j.0", "j.1"], itemsDone: 12n }],
          }),
          getQueueStats: () => ({
            lanes: [
              { priority: Priority.HIGH, pending: 0n, kind: TaskKind.COMPRESS },
              { priority: Priority.NORMAL, pending: 7n, ackPending: 2n, redelivered: 1n, kind: TaskKind.COMPRESS },
            ],
            workers: 1,
            activeJobs: 3,
          }),
        }),
      ),
    ),
    storage: {
      async putStream(key: string, body: Readable) {
        let size = 0;
        for await (const chunk of body) size += (chunk as Buffer).length;
        stored.set(key, size);
      },
      presignPut: async (key: string) => `http://s3.test/${key}`,
      getStream: async () => Readable.from([]),
    },
    checks: {
      coordinator: async () => {
        if (!coordinatorReady) throw new Error("connect ECONNREFUSED 10.0.0.7:50051");
      },
      nats: async () => {},
      s3: async () => {},
    },
    apiKeys: new Map([[KEY, "acme"]]),
    operatorKeys: [OPERATOR_KEY],
    maxUploadBytes: 1000,
    corsOrigins: ["http://localhost:5173"],
    webDir,
    shutdownTimeoutMs: 200,
  });
  httpBase = await gateway.http.listen({ host: "127.0.0.1", port: 0 });
  grpcBase = await gateway.grpc.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  for (const session of sessions) session.abort();
  await Promise.all([gateway?.http.close(), gateway?.grpc.close()]);
});

const auth = { headers: { authorization: `Bearer ${KEY}` } };

function transports(): [string, Transport][] {
  const session = new Http2SessionManager(grpcBase);
  sessions.push(session);
  return [
    ["Connect (HTTP/1.1)", createConnectTransport({ baseUrl: httpBase, httpVersion: "1.1" })],
    ["gRPC-Web (HTTP/1.1)", createGrpcWebTransport({ baseUrl: httpBase, httpVersion: "1.1" })],
    ["gRPC (HTTP/2)", createGrpcTransport({ baseUrl: grpcBase, sessionManager: session })],
  ];
}

describe.each(["Connect (HTTP/1.1)", "gRPC-Web (HTTP/1.1)", "gRPC (HTTP/2)"])("JobService over %s", (name) => {
  const pick = () => transports().find(([candidate]) => candidate === name) as [string, Transport];

  test("forwards GetJob with the tenant of the API key", async () => {
    const [, transport] = pick();
    const client = createClient(JobService, transport);
    seenTenants.length = 0;
    const { job } = await client.getJob({ jobId: "job-1" }, auth);
    expect(job).toMatchObject({ id: "job-1", state: JobState.QUEUED });
    expect(seenTenants).toEqual(["acme"]);
  });

  test("relays the coordinator's NotFound and refuses a missing key", async () => {
    const [, transport] = pick();
    const client = createClient(JobService, transport);
    const missing = await rejection(client.getJob({ jobId: "missing" }, auth));
    expect([missing.code, missing.rawMessage]).toEqual([Code.NotFound, "no job missing"]);
    const anonymous = await rejection(client.getJob({ jobId: "job-1" }));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    const wrong = await rejection(client.getJob({ jobId: "job-1" }, { headers: { authorization: "Bearer wrong" } }));
    expect(wrong.code).toBe(Code.Unauthenticated);
  });
});

describe("gRPC over HTTP/2", () => {
  test("UploadImage streams the data messages to storage", async () => {
    const [, , [, transport]] = transports() as [unknown, unknown, [string, Transport]];
    const client = createClient(JobService, transport);
    async function* messages() {
      yield { part: { case: "header", value: { name: "tiny.png", size: 600n } } } as UploadImageRequest;
      for (let i = 0; i < 6; i++) yield { part: { case: "chunk", value: new Uint8Array(100) } } as UploadImageRequest;
    }
    const response = await client.uploadImage(messages(), auth);
    expect(response.key).toMatch(/^uploads\/acme\/[A-Za-z0-9_-]+\.\d+\/tiny\.png$/);
    expect(response.size).toBe(600n);
    expect(stored.get(response.key)).toBe(600);
  });

  test("WatchJob delivers events while the stream is open, then ends with it", async () => {
    const [, , [, transport]] = transports() as [unknown, unknown, [string, Transport]];
    const client = createClient(JobService, transport);
    const seen: bigint[] = [];
    for await (const { event } of client.watchJob({ jobId: "job-2" }, auth)) {
      seen.push(event?.sequence ?? -1n);
      if (seen.length === 1) releaseWatch();
    }
    expect(seen).toEqual([1n, 2n]);
  });
});

/** A coordinator's WatchJob that sends one event and stays open until the caller goes. */
async function* heldOpenWatch(request: WatchJobRequest, context: HandlerContext) {
  yield { event: { sequence: 1n, jobId: request.jobId } };
  await new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)));
}

/** A job as its final event carries it. */
function ended(id: string) {
  return { id, state: JobState.COMPLETED, finishedAt: timestampNow() };
}

/** A coordinator's WatchJob of five events, the last one the job's end. */
async function* fiveEvents(request: WatchJobRequest) {
  for (let sequence = 1n; sequence <= 4n; sequence++) yield { event: { sequence, jobId: request.jobId } };
  yield { event: { sequence: 5n, jobId: request.jobId, kind: { case: "job" as const, value: ended(request.jobId) } } };
}

function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${httpBase}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("PUT /v1/uploads/:name", () => {
  test("stores the body and answers {key, size}", async () => {
    const res = await request(
      "PUT",
      "/v1/uploads/photo.jpg",
      { ...auth.headers, "content-type": "image/jpeg" },
      Buffer.alloc(700, 7),
    );
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { key: string; size: number };
    expect(body.key).toMatch(/^uploads\/acme\/[A-Za-z0-9_-]+\.\d+\/photo\.jpg$/);
    expect(body.size).toBe(700);
    expect(stored.get(body.key)).toBe(700);
  });

  test("a body over the limit is 413 with a stable code, and nothing is stored", async () => {
    const before = stored.size;
    const res = await request("PUT", "/v1/uploads/big.jpg", auth.headers, Buffer.alloc(1001));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      code: "resource_exhausted",
      message: '"big.jpg" is 1001 bytes, larger than the upload limit of 1000 bytes (1 KB)',
    });
    expect(stored.size).toBe(before);
  });

  test("no key is 401, and no Content-Length is 411", async () => {
    const anonymous = await request("PUT", "/v1/uploads/a.jpg", {}, Buffer.alloc(10));
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ code: "unauthenticated" });
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${httpBase}/v1/uploads/a.jpg`, { method: "PUT", headers: auth.headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(Buffer.alloc(10)); // no Content-Length: Node sends it chunked
      req.end();
    });
    expect(chunked).toBe(411);
  });
});

describe("health, CORS and the web client", () => {
  test("/healthz is 200; /readyz is 503 naming the failed dependency without its detail, 200 once it answers", async () => {
    expect((await request("GET", "/healthz")).status).toBe(200);
    coordinatorReady = false;
    const down = await request("GET", "/readyz");
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({
      status: "unready",
      checks: { coordinator: "unreachable", nats: "ok", s3: "ok" },
    });
    expect(down.body).not.toMatch(/10\.0\.0\.7/);
    coordinatorReady = true;
    const up = await request("GET", "/readyz");
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toMatchObject({ status: "ready" });
  });

  test("a preflight from an allowed origin gets Connect's headers plus Authorization; others get none", async () => {
    const allowed = await request("OPTIONS", "/imgc.v1.JobService/GetJob", {
      origin: "http://localhost:5173",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version,authorization",
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(allowed.headers["access-control-allow-headers"]).toMatch(/Connect-Protocol-Version/);
    expect(allowed.headers["access-control-allow-headers"]).toMatch(/Authorization/);
    const denied = await request("OPTIONS", "/imgc.v1.JobService/GetJob", {
      origin: "https://evil.example",
      "access-control-request-method": "POST",
    });
    expect(denied.headers["access-control-allow-origin"]).toBeUndefined();
    expect(denied.headers["access-control-allow-headers"]).toBeUndefined();
  });

  test("an actual call from an allowed origin carries the CORS response headers", async () => {
    const res = await request(
      "POST",
      "/imgc.v1.JobService/GetJob",
      { origin: "http://localhost:5173", "content-type": "application/json", ...auth.headers },
      Buffer.from(JSON.stringify({ jobId: "job-3" })),
    );
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(res.headers["access-control-expose-headers"]).toMatch(/Grpc-Status/);
  });

  test("a call from the gateway's own origin is answered like an allowed origin, though not configured", async () => {
    const own = httpBase.replace(/\/$/, "");
    const res = await request(
      "POST",
      "/imgc.v1.JobService/GetJob",
      { origin: own, "content-type": "application/json", ...auth.headers },
      Buffer.from(JSON.stringify({ jobId: "job-3" })),
    );
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe(own);
    const other = await request("OPTIONS", "/imgc.v1.JobService/GetJob", {
      origin: own.replace("127.0.0.1", "localhost"),
      "access-control-request-method": "POST",
    });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
  });

  test("serves the web client at /", async () => {
    const res = await request("GET", "/");
    expect(res.status).toBe(200);
    expect(res.body).toContain("<title>imgc</title>");
    expect(gateway.web).toBe(true);
  });
});

describe("gRPC server reflection", () => {
  const buf = join(import.meta.dirname, "../../node_modules/.bin/buf");
  const bufCurl = async (...args: string[]) => {
    try {
      const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args]);
      return { code: 0, stdout, stderr: "" };
    } catch (err) {
      const failed = err as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  };

  test("buf curl lists the services and calls GetJob with no schema but the gateway's reflection", async () => {
    const listed = await bufCurl("--list-services", grpcBase);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split("\n")).toEqual([
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "imgc.v1.JobService",
    ]);
    // Reflection itself needs no key; the call it describes does.
    const got = await bufCurl(
      "-H",
      `Authorization: Bearer ${KEY}`,
      "-d",
      '{"jobId":"job-7"}',
      `${grpcBase}/imgc.v1.JobService/GetJob`,
    );
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ job: { id: "job-7", state: "JOB_STATE_QUEUED" } });
    const anonymous = await bufCurl("-d", '{"jobId":"job-7"}', `${grpcBase}/imgc.v1.JobService/GetJob`);
    // buf curl exits with the RPC's code shifted left by three: UNAUTHENTICATED (16) is 128.
    expect(anonymous.code).toBe(Code.Unauthenticated << 3);
  }, 60_000);
});

describe("GET /v1/cluster", () => {
  test("workers, lanes and active jobs as JSON, 64-bit counters as numbers, every field present", async () => {
    const res = await request("GET", "/v1/cluster", { authorization: `Bearer ${OPERATOR_KEY}` });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(res.body);
    expect(body.activeJobs).toBe(3);
    expect(body.workers).toEqual([
      expect.objectContaining({
        id: "worker-1",
        host: "a",
        slots: 4,
        busy: 2,
        chunks: ["j.0", "j.1"],
        itemsDone: 12,
        draining: false,
      }),
    ]);
    expect(body.lanes).toEqual([
      { priority: "PRIORITY_HIGH", pending: 0, ackPending: 0, redelivered: 0, kind: "TASK_KIND_COMPRESS" },
      { priority: "PRIORITY_NORMAL", pending: 7, ackPending: 2, redelivered: 1, kind: "TASK_KIND_COMPRESS" },
    ]);
    expect((await request("GET", "/v1/cluster")).status).toBe(401);
  });

  test("a tenant's key is 403: hosts, pids and other tenants' job ids are for operators only", async () => {
    const res = await request("GET", "/v1/cluster", auth.headers);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      code: "permission_denied",
      message: "this needs an operator key (IMGC_OPERATOR_KEYS)",
    });
    expect(res.body).not.toContain("worker-1");
  });

  test("GET /metrics refuses a missing key (401) and a tenant's (403) in the documented JSON shape", async () => {
    const missing = await request("GET", "/metrics");
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toMatchObject({ code: "unauthenticated" });
    const tenant = await request("GET", "/metrics", auth.headers);
    expect(tenant.status).toBe(403);
    expect(JSON.parse(tenant.body)).toMatchObject({ code: "permission_denied" });
    expect((await request("GET", "/metrics", { authorization: `Bearer ${OPERATOR_KEY}` })).status).toBe(200);
  });
});

describe("rate limit", () => {
  let limited: Gateway;
  let limitedHttp: string;
  let limitedGrpc: string;
  const keys = { a: "rate-key-a", b: "rate-key-b" };
  const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    limited = await buildTestGateway({
      coordinator: fakeCoordinator({ getJob: (request) => ({ job: { id: request.jobId } }), watchJob: fiveEvents }),
      cluster: createClient(
        ClusterService,
        createRouterTransport(({ service }) =>
          service(ClusterService, { listWorkers: () => ({}), getQueueStats: () => ({}) }),
        ),
      ),
      // Two keys of one tenant: the limit is per key.
      apiKeys: new Map([
        [keys.a, "acme"],
        [keys.b, "acme"],
      ]),
      maxUploadBytes: 10,
      // So slow a refill that no token comes back during the test.
      rateLimit: { perSecond: 0.01, burst: 2 },
    });
    limitedHttp = await limited.http.listen({ host: "127.0.0.1", port: 0 });
    limitedGrpc = await limited.grpc.listen({ host: "127.0.0.1", port: 0 });
  });

  afterAll(async () => {
    await Promise.all([limited?.http.close(), limited?.grpc.close()]);
  });

  test("plain HTTP over the limit is 429 rate_limited with Retry-After; another key has its own bucket", async () => {
    const get = (key: string) =>
      fetch(`${limitedHttp}/v1/uploads/a.png`, {
        method: "PUT",
        body: "1",
        headers: { authorization: `Bearer ${key}` },
      });
    expect((await get(keys.a)).status).toBe(200);
    expect((await get(keys.a)).status).toBe(200);
    const over = await get(keys.a);
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toBe("100");
    expect(await over.json()).toEqual({
      code: "rate_limited",
      message: "rate limit exceeded (0.01 requests per second, bursts of 2); retry in 100 s",
    });
    expect((await get(keys.b)).status).toBe(200);
    // The buckets are shared by every route and both ports: key b has one token left, for one RPC.
    const session = new Http2SessionManager(limitedGrpc);
    try {
      const grpcClient = createClient(
        JobService,
        createGrpcTransport({ baseUrl: limitedGrpc, sessionManager: session }),
      );
      expect((await grpcClient.getJob({ jobId: "j" }, bearer(keys.b))).job?.id).toBe("j");
      const refused = await rejection(grpcClient.getJob({ jobId: "j" }, bearer(keys.b)));
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(refused.metadata.get("retry-after")).toBe("100");
    } finally {
      session.abort();
    }
  });

  test("an RPC stream counts once, however many messages it carries", async () => {
    const key = "rate-key-c";
    const own = await buildTestGateway({
      coordinator: fakeCoordinator({ watchJob: fiveEvents }),
      apiKeys: new Map([[key, "acme"]]),
      maxUploadBytes: 10,
      rateLimit: { perSecond: 0.01, burst: 1 },
    });
    const base = await own.http.listen({ host: "127.0.0.1", port: 0 });
    try {
      const client = createClient(JobService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
      const seen: bigint[] = [];
      for await (const { event } of client.watchJob({ jobId: "j" }, bearer(key))) seen.push(event?.sequence ?? 0n);
      expect(seen).toEqual([1n, 2n, 3n, 4n, 5n]);
      const again = await rejection(
        (async () => {
          for await (const _ of client.watchJob({ jobId: "j" }, bearer(key))) {
          }
        })(),
      );
      expect(again.code).toBe(Code.ResourceExhausted);
    } finally {
      await Promise.all([own.http.close(), own.grpc.close()]);
    }
  });
});

describe("shutdown", () => {
  test("close() cuts a WatchJob that outlives the shutdown timeout with Unavailable, and then resolves", async () => {
    const own = await buildTestGateway({
      coordinator: fakeCoordinator({ watchJob: heldOpenWatch }),
      maxUploadBytes: 10,
      shutdownTimeoutMs: 100,
    });
    const base = await own.grpc.listen({ host: "127.0.0.1", port: 0 });
    const session = new Http2SessionManager(base);
    const client = createClient(JobService, createGrpcTransport({ baseUrl: base, sessionManager: session }));
    const stream = client.watchJob({ jobId: "job-9" });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.event?.sequence).toBe(1n);
    const started = Date.now();
    const closed = own.grpc.close();
    const err = await rejection(iterator.next());
    expect([err.code, err.rawMessage]).toEqual([Code.Unavailable, "the gateway is shutting down, reconnect"]);
    session.abort();
    await closed;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("long calls and slow clients", () => {
  const key = "slow-key-0123456789";
  const other = "other-key-0123456789";
  let own: Gateway;
  let grpcBase: string;
  let session: Http2SessionManager;
  /** Resolves the uploads that never send their bytes, once the test is done with them. */
  let finishUploads = () => {};

  beforeAll(async () => {
    own = await buildTestGateway({
      coordinator: fakeCoordinator({ watchJob: heldOpenWatch }),
      storage: {
        async putStream(_key: string, body: Readable) {
          for await (const _ of body) {
          }
        },
        presignPut: async () => "",
        getStream: async () => Readable.from([]),
      },
      apiKeys: new Map([
        [key, "acme"],
        [other, "acme"],
      ]),
      maxUploadBytes: 1000,
      maxWatchesPerKey: 2,
      requestTimeoutMs: 1_000,
    });
    grpcBase = await own.grpc.listen({ host: "127.0.0.1", port: 0 });
    session = new Http2SessionManager(grpcBase);
  });

  afterAll(async () => {
    finishUploads();
    session?.abort();
    await Promise.all([own?.http.close(), own?.grpc.close()]);
  });

  test("one key holds at most IMGC_MAX_WATCHES_PER_KEY WatchJob streams; another key has its own", async () => {
    const client = createClient(JobService, createGrpcTransport({ baseUrl: grpcBase, sessionManager: session }));
    const controller = new AbortController();
    const watch = (as: string) =>
      client
        .watchJob({ jobId: "j" }, { headers: { authorization: `Bearer ${as}` }, signal: controller.signal })
        [Symbol.asyncIterator]();
    try {
      const open = [watch(key), watch(key)];
      for (const stream of open) expect((await stream.next()).value?.event?.sequence).toBe(1n);
      const third = await rejection(watch(key).next());
      expect([third.code, third.rawMessage]).toEqual([
        Code.ResourceExhausted,
        "too many WatchJob streams open for this API key; close one first",
      ]);
      expect((await watch(other).next()).value?.event?.sequence).toBe(1n);
    } finally {
      controller.abort();
    }
  });

  test("an upload that dribbles is cut off at the request timeout, DeadlineExceeded", async () => {
    const client = createClient(JobService, createGrpcTransport({ baseUrl: grpcBase, sessionManager: session }));
    const stalled = new Promise<void>((resolve) => {
      finishUploads = resolve;
    });
    async function* messages(): AsyncGenerator<UploadImageRequest> {
      yield { part: { case: "header", value: { name: "drip.jpg", size: 100n } } } as UploadImageRequest;
      yield { part: { case: "chunk", value: new Uint8Array(1) } } as UploadImageRequest;
      // The other 99 bytes never come.
      await stalled;
    }
    const err = await rejection(client.uploadImage(messages(), { headers: { authorization: `Bearer ${key}` } }));
    expect([err.code, err.rawMessage]).toEqual([
      Code.DeadlineExceeded,
      '"drip.jpg" did not arrive within 1000 ms; upload it faster or in smaller files',
    ]);
  });
});

describe("the OpenAPI document and the edge's input checks (issue 13 items 8, 10, 11)", () => {
  const REST_ROUTES = [
    "PUT /v1/uploads/{name}",
    "POST /v1/uploads",
    "GET /v1/jobs/{id}/results.zip",
    "GET /v1/jobs/{id}/report.csv",
    "GET /v1/jobs/{id}/report.json",
    "GET /v1/cluster",
    "GET /metrics",
    "GET /healthz",
    "GET /readyz",
  ];

  test("GET /v1/openapi.json (no key) documents every REST route, and only those, with the error body", async () => {
    const res = await request("GET", "/v1/openapi.json");
    expect(res.status).toBe(200);
    const document = JSON.parse(res.body) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
      components: { schemas: Record<string, { required?: string[] }> };
    };
    expect(document.openapi).toBe("3.1.0");
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual([...REST_ROUTES].sort());
    // Every route the HTTP port serves outside Connect, the web client and the document itself is in it.
    // printRoutes draws a tree: a line's depth is where its "── " starts, its path its parents' and its own.
    const parents: string[] = [];
    const served = gateway.http
      .printRoutes({ commonPrefix: false })
      .split("\n")
      .flatMap((line) => {
        const match = /── (\S+) \(([A-Z, ]+)\)/.exec(line);
        if (!match?.[1] || !match[2]) return [];
        const depth = Math.floor(line.indexOf("── ") / 4);
        parents.length = depth;
        const path = [...parents, match[1]].join("").replace(/:(\w+)/g, "{$1}");
        parents.push(match[1]);
        return match[2].split(", ").map((method) => `${method} ${path}`);
      })
      .filter((route) => !/ \/imgc\.|HEAD |OPTIONS |\/v1\/openapi\.json|\/$|\*/.test(route));
    expect(served.sort()).toEqual([...REST_ROUTES].sort());
    expect(document.components.schemas.Error?.required).toEqual(["code", "message"]);
    expect(document.paths["/v1/uploads/{name}"]?.put?.responses["400"]).toEqual({
      description: expect.stringContaining("invalid_argument"),
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    });
    expect(document.paths["/v1/uploads"]?.post?.requestBody).toMatchObject({
      content: { "multipart/form-data": expect.anything() },
    });
  });

  test("bad input gets the documented shape and code, never Fastify's own, and a short quote", async () => {
    const expectError = (res: { status: number; body: string }, status: number, code: string) => {
      expect(res.status, res.body).toBe(status);
      const body = JSON.parse(res.body) as Record<string, string>;
      expect(Object.keys(body).sort()).toEqual(["code", "message"]);
      expect(body.code).toBe(code);
      expect(body.message?.length).toBeLessThan(200);
      return body.message;
    };
    // A name the route schema refuses: 400 invalid_argument, in the words of the gRPC path.
    const long = await request("PUT", `/v1/uploads/${"n".repeat(2_000)}`, auth.headers, Buffer.alloc(3));
    expect(expectError(long, 400, "invalid_argument")).toBe(
      "Expected at most 255 characters for name but received 2000",
    );
    // Percent-encoded, it is still the schema (never the router) that refuses it, counting characters.
    const encoded = await request("PUT", `/v1/uploads/${"%C3%A9".repeat(256)}`, auth.headers, Buffer.alloc(3));
    expect(expectError(encoded, 400, "invalid_argument")).toBe(
      "Expected at most 255 characters for name but received 256",
    );
    // Longer than Node's parser takes: the documented shape too, not Fastify's {"error","statusCode"}.
    const huge = await request("PUT", `/v1/uploads/${"h".repeat(20_000)}`, auth.headers, Buffer.alloc(3));
    expect(expectError(huge, 431, "resource_exhausted")).toMatch(/^the URL and headers are larger than \d+ bytes$/);
    // A malformed job id names no job: 404 like an unknown one, quoted short and escaped.
    const id = "i".repeat(10_000);
    expect(expectError(await request("GET", `/v1/jobs/${id}/report.json`, auth.headers), 404, "not_found")).toMatch(
      /^job "i{64}…" not found$/,
    );
    expect(expectError(await request("GET", "/v1/jobs/a%0Ab%22c/report.csv", auth.headers), 404, "not_found")).toBe(
      'job "a\\nb\\"c" not found',
    );
    // An unknown route's message does not echo a long URL.
    expect(expectError(await request("DELETE", `/v1/${"u".repeat(10_000)}`, auth.headers), 404, "not_found")).toMatch(
      /^no route for DELETE "\/v1\/u{60}…"$/,
    );
    // A body that is not a form: the documented code, not FST_ERR_CTP_INVALID_MEDIA_TYPE.
    expectError(
      await request("POST", "/v1/uploads", { ...auth.headers, "content-type": "text/plain" }, Buffer.from("x")),
      415,
      "unsupported_media_type",
    );
  });

  test.each(["Connect (HTTP/1.1)", "gRPC-Web (HTTP/1.1)", "gRPC (HTTP/2)"])(
    "over %s a 100 KB job id is NotFound with a short message and never reaches the coordinator",
    async (name) => {
      const [, transport] = transports().find(([candidate]) => candidate === name) as [string, Transport];
      const client = createClient(JobService, transport);
      seenTenants.length = 0;
      for (const call of [
        (jobId: string) => client.getJob({ jobId }, auth),
        (jobId: string) => client.cancelJob({ jobId }, auth),
        (jobId: string) => client.getResults({ jobId }, auth),
      ]) {
        const err = await rejection(call("x".repeat(100_000)));
        expect([err.code, err.rawMessage]).toEqual([Code.NotFound, `job "${"x".repeat(64)}…" not found`]);
      }
      expect(seenTenants).toEqual([]);
    },
  );
});
