/**
 * The authorization wrapper and role policy over an in-memory transport. The services behind it are fakes
 * that answer with the tenant they were given: what is tested is who gets through, and as whom.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { createTokenVerifier, generateSigningKeys, type MintOptions, mintToken } from "@imgc/common";
import { ClusterService, JobSchema, JobService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { tenantOf } from "../tenant.js";
import { authorize } from "./authorize.js";
import { identityOf } from "./identity.js";

const keys = generateSigningKeys();
const verifier = createTokenVerifier(keys.publicKey);
const mint = (options: MintOptions) => mintToken(keys.privateKey, options);

const jobs: ServiceImpl<typeof JobService> = {
  createUploads: (_r, ctx) => ({ slots: [{ key: tenantOf(ctx) }] }),
  uploadImage: async (requests, ctx) => {
    for await (const _ of requests);
    return { key: tenantOf(ctx) };
  },
  submitJob: (_r, ctx) => ({ job: create(JobSchema, { tenant: tenantOf(ctx) }) }),
  getJob: (_r, ctx) => ({ job: create(JobSchema, { tenant: tenantOf(ctx) }) }),
  listJobs: (_r, ctx) => ({ jobs: [create(JobSchema, { tenant: tenantOf(ctx) })] }),
  async *watchJob(_r, ctx) {
    yield { event: { jobId: tenantOf(ctx) } };
  },
  cancelJob: (_r, ctx) => ({ job: create(JobSchema, { tenant: tenantOf(ctx) }) }),
  getResults: (_r, ctx) => ({ nextPageToken: tenantOf(ctx) }),
  retryJob: (_r, ctx) => ({ job: create(JobSchema, { tenant: tenantOf(ctx) }) }),
  deleteJob: () => ({}),
};
const cluster: ServiceImpl<typeof ClusterService> = {
  claimChunk: (_r, ctx) => ({ pendingItemIds: [identityOf(ctx).sub] }),
  reportItem: () => ({ accepted: true }),
  reportItems: () => ({}),
  completeChunk: () => ({}),
  listWorkers: () => ({ workers: [] }),
  drainWorker: () => ({}),
  getQueueStats: () => ({}),
};

function clientsWith(token: string | undefined, tenant?: string, secured = true) {
  const transport = createRouterTransport(
    ({ service }) => {
      service(JobService, secured ? authorize(JobService, jobs, { verifier }) : jobs);
      service(ClusterService, secured ? authorize(ClusterService, cluster, { verifier }) : cluster);
    },
    {
      transport: {
        interceptors: [
          (next) => (request) => {
            if (token !== undefined) request.header.set("authorization", `Bearer ${token}`);
            if (tenant !== undefined) request.header.set("x-imgc-tenant", tenant);
            return next(request);
          },
        ],
      },
    },
  );
  return { jobs: createClient(JobService, transport), cluster: createClient(ClusterService, transport) };
}

async function codeOf(call: () => Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call();
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** Every method of both services, called once with an empty request (streams drained). */
function everyCall(c: ReturnType<typeof clientsWith>): Record<string, () => Promise<unknown>> {
  return {
    createUploads: () => c.jobs.createUploads({}),
    uploadImage: () => c.jobs.uploadImage((async function* () {})()),
    submitJob: () => c.jobs.submitJob({}),
    getJob: () => c.jobs.getJob({}),
    listJobs: () => c.jobs.listJobs({}),
    watchJob: async () => {
      for await (const _ of c.jobs.watchJob({}));
    },
    cancelJob: () => c.jobs.cancelJob({}),
    getResults: () => c.jobs.getResults({}),
    claimChunk: () => c.cluster.claimChunk({}),
    reportItem: () => c.cluster.reportItem({}),
    reportItems: () => c.cluster.reportItems({}),
    completeChunk: () => c.cluster.completeChunk({}),
    listWorkers: () => c.cluster.listWorkers({}),
    drainWorker: () => c.cluster.drainWorker({}),
    getQueueStats: () => c.cluster.getQueueStats({}),
  };
}

async function codes(c: ReturnType<typeof clientsWith>): Promise<Record<string, Code | "ok">> {
  const out: Record<string, Code | "ok"> = {};
  for (const [name, call] of Object.entries(everyCall(c))) out[name] = await codeOf(call);
  return out;
}

const all = (code: Code | "ok") =>
  Object.fromEntries(Object.keys(everyCall(clientsWith(undefined))).map((m) => [m, code]));

describe("authentication", () => {
  test("no token, a token of another key, an expired one or garbage: Unauthenticated on every method", async () => {
    const other = mintToken(generateSigningKeys().privateKey, { role: "coordinator", sub: "c" });
    const expired = mint({ role: "coordinator", sub: "c", ttlS: 1, now: Date.now() - 5_000 });
    for (const token of [undefined, other, expired, "imgc1.x.y", "not-a-token"]) {
      expect(await codes(clientsWith(token))).toEqual(all(Code.Unauthenticated));
    }
  });

  test("a handler reached without the wrapper has no caller: x-imgc-tenant alone names no tenant", async () => {
    const raw = clientsWith(undefined, "acme", false);
    expect(await codeOf(() => raw.jobs.getJob({}))).toBe(Code.Unauthenticated);
  });
});

describe("roles", () => {
  test("a worker may claim, report and complete as itself, and nothing else", async () => {
    const w = clientsWith(mint({ role: "worker", sub: "w1" }));
    const expected = { ...all(Code.PermissionDenied) };
    expect(await codes(w)).toEqual(expected);
    expect((await w.cluster.claimChunk({ workerId: "w1" })).pendingItemIds).toEqual(["w1"]);
    expect(await codeOf(() => w.cluster.reportItem({ workerId: "w1" }))).toBe("ok");
    expect(await codeOf(() => w.cluster.reportItems({ workerId: "w1" }))).toBe("ok");
    expect(await codeOf(() => w.cluster.completeChunk({ workerId: "w1" }))).toBe("ok");
    for (const call of [
      () => w.cluster.claimChunk({ workerId: "w2" }),
      () => w.cluster.reportItem({ workerId: "w2" }),
      () => w.cluster.reportItems({ workerId: "w2" }),
      () => w.cluster.completeChunk({ workerId: "w2" }),
    ]) {
      expect(await codeOf(call)).toBe(Code.PermissionDenied);
    }
  });

  test("a pool token acts as the workers of its pool only", async () => {
    const pool = mint({ role: "worker", sub: "imgc-worker", pool: true });
    expect(await codeOf(() => clientsWith(pool).cluster.claimChunk({ workerId: "imgc-worker-7f3a-1-abc" }))).toBe("ok");
    for (const workerId of ["imgc-worker", "imgc-workers-1", "other-1", ""]) {
      expect(await codeOf(() => clientsWith(pool).cluster.reportItem({ workerId })), workerId).toBe(
        Code.PermissionDenied,
      );
    }
    // Without the pool claim the same subject is one worker, not a prefix.
    const single = mint({ role: "worker", sub: "imgc-worker" });
    expect(await codeOf(() => clientsWith(single).cluster.claimChunk({ workerId: "imgc-worker-1" }))).toBe(
      Code.PermissionDenied,
    );
  });

  test("a gateway acts for the tenant it names (default when none); it reads the cluster but never drives it", async () => {
    const token = mint({ role: "gateway", sub: "gw" });
    expect((await clientsWith(token, "acme").jobs.getJob({})).job?.tenant).toBe("acme");
    expect((await clientsWith(token).jobs.submitJob({})).job?.tenant).toBe("default");
    expect(await codeOf(() => clientsWith(token, "../x").jobs.getJob({}))).toBe(Code.InvalidArgument);
    const c = clientsWith(token);
    expect(await codeOf(() => c.cluster.listWorkers({}))).toBe("ok");
    expect(await codeOf(() => c.cluster.getQueueStats({}))).toBe("ok");
    for (const call of [() => c.cluster.drainWorker({}), () => c.cluster.claimChunk({ workerId: "gw" })]) {
      expect(await codeOf(call)).toBe(Code.PermissionDenied);
    }
  });

  test("a service acts only for the tenants its token names", async () => {
    const one = mint({ role: "service", sub: "billing", tenants: ["acme"] });
    expect((await clientsWith(one).jobs.listJobs({})).jobs[0]?.tenant).toBe("acme");
    expect((await clientsWith(one, "acme").jobs.submitJob({})).job?.tenant).toBe("acme");
    expect(await codeOf(() => clientsWith(one, "beta").jobs.getJob({}))).toBe(Code.PermissionDenied);
    const two = mint({ role: "service", sub: "sync", tenants: ["acme", "beta"] });
    expect(await codeOf(() => clientsWith(two).jobs.getJob({}))).toBe(Code.PermissionDenied);
    expect((await clientsWith(two, "beta").jobs.getJob({})).job?.tenant).toBe("beta");
    const any = mint({ role: "service", sub: "ops", tenants: ["*"] });
    expect((await clientsWith(any, "zeta").jobs.getJob({})).job?.tenant).toBe("zeta");
    expect(await codeOf(() => clientsWith(any).jobs.getJob({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(() => clientsWith(one).cluster.listWorkers({}))).toBe(Code.PermissionDenied);
  });

  test("an operator drains and reads the cluster and reads any tenant's jobs, but submits, cancels and works nothing", async () => {
    const op = clientsWith(mint({ role: "operator", sub: "alice" }));
    expect(await codes(op)).toEqual({
      ...all(Code.PermissionDenied),
      getJob: "ok",
      listJobs: "ok",
      watchJob: "ok",
      getResults: "ok",
      listWorkers: "ok",
      drainWorker: "ok",
      getQueueStats: "ok",
    });
    expect((await clientsWith(mint({ role: "operator", sub: "alice" }), "acme").jobs.getJob({})).job?.tenant).toBe(
      "acme",
    );
  });

  test("x-imgc-tenant from a worker, or on an operator's cluster call, is refused rather than ignored", async () => {
    const w = clientsWith(mint({ role: "worker", sub: "w1" }), "acme");
    expect(await codeOf(() => w.cluster.claimChunk({ workerId: "w1" }))).toBe(Code.PermissionDenied);
    const op = clientsWith(mint({ role: "operator", sub: "alice" }), "acme");
    expect(await codeOf(() => op.cluster.drainWorker({}))).toBe(Code.PermissionDenied);
  });

  test("insecure mode (no verifier) trusts every caller as before: the header's tenant or default", async () => {
    const transport = createRouterTransport(({ service }) => {
      service(JobService, authorize(JobService, jobs, { verifier: undefined }));
    });
    const client = createClient(JobService, transport);
    expect((await client.getJob({}, { headers: { "x-imgc-tenant": "acme" } })).job?.tenant).toBe("acme");
    expect((await client.getJob({})).job?.tenant).toBe("default");
  });
});
