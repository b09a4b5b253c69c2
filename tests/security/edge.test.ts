/**
 * The attack suite at the edge: a running cluster (real processes, loopback) attacked through its public
 * gateway the way the security review did (issue 11). Each test provokes one hole and checks it now does no
 * harm; docs/security.md maps each to the threat it covers. The internal plane (who may call the coordinator
 * and NATS) has its own suite.
 */
import { execFile } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorCode, ItemState, JobService, JobState } from "@imgc/proto";
import { afterAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../scripts/lib/local-stack.js";
import { allResults, corpusFiles, uploadFixtures, useCluster, waitForJob } from "../harness/index.js";

const KEYS = {
  acme: "acme-key-0123456789abcdef",
  globex: "globex-key-0123456789abcdef",
  // A key mapped to the tenant "default", which used to bypass the source checks.
  fallback: "default-key-0123456789abcdef",
  operator: "operator-key-0123456789abcdef",
};
const REQUEST_TIMEOUT_MS = 3_000;

/** What the coordinator may fetch in these tests: this server's port on loopback, nothing else. */
const secrets = createServer((req, res) => {
  if (req.url === "/missing") res.writeHead(404).end("secret-404-body");
  else if (req.url === "/not-json") res.writeHead(200).end('["token=hunter2-internal');
  else if (req.url === "/table.csv") res.writeHead(200).end("secret_column_a,secret_column_b\n1,2\n");
  else res.writeHead(500).end();
});
await new Promise<void>((resolve) => secrets.listen(0, "127.0.0.1", resolve));
const secretsBase = `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`;
afterAll(() => {
  secrets.closeAllConnections();
  secrets.close();
});

const cluster = useCluster({
  workers: 1,
  env: {
    IMGC_API_KEYS: `${KEYS.acme}:acme,${KEYS.globex}:globex,${KEYS.fallback}:default`,
    IMGC_OPERATOR_KEYS: KEYS.operator,
    IMGC_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    IMGC_FETCH_ALLOW: `127.0.0.1:${new URL(secretsBase).port}`,
    IMGC_FETCH_TIMEOUT_MS: "2000",
  },
});

function bearer(key: string): Interceptor {
  return (next) => async (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

function jobsAs(key: string): Client<typeof JobService> {
  return createClient(
    JobService,
    createConnectTransport({
      baseUrl: cluster().addresses.gatewayHttp,
      httpVersion: "1.1",
      interceptors: [bearer(key)],
    }),
  );
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const get = (route: string, key?: string) =>
  fetch(`${cluster().addresses.gatewayHttp}${route}`, key ? { headers: { authorization: `Bearer ${key}` } } : {});

describe("secure by default", () => {
  test("a gateway with no API keys and no IMGC_DEV_MODE refuses to start, naming both settings", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", path.join("gateway", "src", "main.ts")],
        {
          cwd: repoRoot,
          // A gateway that (wrongly) starts is killed outright, so none is left behind.
          timeout: 60_000,
          killSignal: "SIGKILL",
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", IMGC_GATEWAY_PORT: "0" },
        },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("IMGC_API_KEYS");
    expect(result.stderr).toContain("IMGC_DEV_MODE=1");
  });

  test("the web client's answers carry a CSP, no framing and no sniffing", async () => {
    const res = await get("/healthz");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("cluster details are for operators", () => {
  test("GET /v1/cluster and /metrics refuse a tenant's key and answer an operator's", async () => {
    for (const route of ["/v1/cluster", "/metrics"]) {
      expect((await get(route)).status, route).toBe(401);
      const tenant = await get(route, KEYS.acme);
      expect(tenant.status, route).toBe(403);
      const body = await tenant.text();
      expect(body).not.toMatch(/worker-1|pid|imgc_gateway/);
      expect((await get(route, KEYS.operator)).status, route).toBe(200);
    }
    // An operator key acts for no tenant.
    expect((await failure(jobsAs(KEYS.operator).listJobs({}))).code).toBe(Code.PermissionDenied);
  });
});

describe("sources stay in the caller's tenant", () => {
  test("tenant default (and any other) cannot read another tenant's upload, the bucket's root or another bucket", async () => {
    const c = cluster();
    const { uploads } = await uploadFixtures(c.storage, corpusFiles("photos").slice(0, 1), { tenant: "globex" });
    const stolen = uploads[0]?.key ?? "";
    for (const key of [KEYS.fallback, KEYS.acme]) {
      const jobs = jobsAs(key);
      for (const source of [
        { case: "uploadKey" as const, value: stolen },
        { case: "s3Prefix" as const, value: { bucket: "", prefix: "" } },
        { case: "s3Prefix" as const, value: { bucket: "", prefix: "private/" } },
        { case: "s3Prefix" as const, value: { bucket: "other-bucket", prefix: "" } },
      ]) {
        const err = await failure(jobs.submitJob({ sources: [{ kind: source }] }));
        expect(err.code, `${key.slice(0, 6)} ${JSON.stringify(source)}`).toBe(Code.InvalidArgument);
      }
    }
  });
});

describe("fetched content is never echoed", () => {
  test("manifest errors say what failed, not what came back", async () => {
    const jobs = jobsAs(KEYS.acme);
    const manifest = (url: string, column = "") => ({
      sources: [
        { kind: { case: "manifest" as const, value: { content: { case: "url" as const, value: url }, column } } },
      ],
    });
    const notJson = await failure(jobs.submitJob(manifest(`${secretsBase}/not-json`)));
    expect(notJson.rawMessage).toBe("manifest: not valid JSON");
    const column = await failure(jobs.submitJob(manifest(`${secretsBase}/table.csv`, "url")));
    expect(column.rawMessage).toBe('manifest: no column "url" in its header row');
    const missing = await failure(jobs.submitJob(manifest(`${secretsBase}/missing`)));
    expect(missing.rawMessage).toBe(`could not fetch ${secretsBase}/missing`);
    for (const err of [notJson, column, missing]) expect(err.rawMessage).not.toMatch(/hunter2|secret|404/);
  });

  test("special-purpose addresses the old list missed are refused before any connection", async () => {
    const jobs = jobsAs(KEYS.acme);
    for (const url of [
      "http://[64:ff9b::7f00:1]/m.json",
      "http://198.18.0.1/m.json",
      "http://[2002:7f00:1::1]/m.json",
    ]) {
      const err = await failure(
        jobs.submitJob({
          sources: [{ kind: { case: "manifest", value: { content: { case: "url", value: url } } } }],
        }),
      );
      expect(err.rawMessage, url).toMatch(/^refused .*: .* is a (NAT64|reserved|6to4) address/);
    }
  });
});

describe("upload slots", () => {
  test("a slot declared small that took a bigger file never becomes a source", async () => {
    const jobs = jobsAs(KEYS.acme);
    const { slots } = await jobs.createUploads({ files: [{ name: "tiny.jpg", size: 10n }] });
    const slot = slots[0];
    if (!slot) throw new Error("no slot");
    const photo = await import("node:fs/promises").then((fs) => fs.readFile(corpusFiles("photos")[0] ?? ""));
    const put = await fetch(slot.url, { method: "PUT", body: photo, headers: { "content-type": "text/html" } });
    // S3 cannot hold a presigned PUT to a size: the store takes it; the coordinator must refuse it.
    expect(put.status).toBe(200);
    const { job } = await jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: slot.key } }] });
    const finished = await waitForJob(jobs, job?.id ?? "", { timeoutMs: 60_000 });
    expect(finished.state).toBe(JobState.FAILED);
    const [result] = await allResults(jobs, finished.id);
    expect(result).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.FILE_TOO_LARGE,
      errorMessage: `the upload is ${photo.length} bytes, not the 10 bytes its upload slot declared`,
    });
  });

  test("a slot that took bytes of the declared size but no image never becomes a source", async () => {
    const jobs = jobsAs(KEYS.acme);
    const page = Buffer.from("<html><script>alert(1)</script></html>");
    const { slots } = await jobs.createUploads({ files: [{ name: "photo.jpg", size: BigInt(page.length) }] });
    const slot = slots[0];
    if (!slot) throw new Error("no slot");
    expect(
      (await fetch(slot.url, { method: "PUT", body: page, headers: { "content-type": "image/jpeg" } })).status,
    ).toBe(200);
    const { job } = await jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: slot.key } }] });
    const finished = await waitForJob(jobs, job?.id ?? "", { timeoutMs: 60_000 });
    const [result] = await allResults(jobs, finished.id);
    expect(result).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.UNSUPPORTED_FORMAT,
      errorMessage: expect.stringMatching(/^the upload is not an image the cluster reads/),
      workerId: "",
    });
  });

  test("a slot PUT again after SubmitJob cannot swap the bytes under the job: the item fails, nothing is compressed", async () => {
    const jobs = jobsAs(KEYS.acme);
    const photo = await import("node:fs/promises").then((fs) => fs.readFile(corpusFiles("photos")[0] ?? ""));
    const { slots } = await jobs.createUploads({ files: [{ name: "photo.jpg", size: BigInt(photo.length) }] });
    const slot = slots[0];
    if (!slot) throw new Error("no slot");
    expect((await fetch(slot.url, { method: "PUT", body: photo })).status).toBe(200);
    // The worker is held (SIGSTOP) so that it reads the source only after the second PUT, whenever it pulled.
    const worker = cluster().workers[0];
    if (!worker) throw new Error("no worker");
    await worker.kill("SIGSTOP");
    try {
      const { job } = await jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: slot.key } }] });
      // Same size, still a JPEG: only the ETag tells the bytes apart.
      const swapped = Buffer.from(photo);
      swapped[swapped.length - 3] = (swapped[swapped.length - 3] ?? 0) ^ 0xff;
      expect((await fetch(slot.url, { method: "PUT", body: swapped })).status).toBe(200);
      await worker.kill("SIGCONT");
      const finished = await waitForJob(jobs, job?.id ?? "", { timeoutMs: 60_000 });
      const [result] = await allResults(jobs, finished.id);
      expect(result).toMatchObject({
        state: ItemState.FAILED,
        errorCode: ErrorCode.SOURCE_NOT_FOUND,
        errorMessage:
          "The source was written again after the job was submitted; upload it to a new slot and submit it again",
        outputKey: "",
      });
    } finally {
      await worker.kill("SIGCONT");
    }
  });

  test("a slow-drip PUT is cut off once the request timeout passes", async () => {
    const { gatewayHttp } = cluster().addresses;
    let sent = 0;
    const ended = await new Promise<string>((resolve) => {
      const req = httpRequest(`${gatewayHttp}/v1/uploads/drip.jpg`, {
        method: "PUT",
        headers: { authorization: `Bearer ${KEYS.acme}`, "content-length": "1000" },
      });
      const drip = setInterval(() => {
        if (req.destroyed) return;
        sent++;
        req.write("x");
      }, 500);
      const done = (how: string) => {
        clearInterval(drip);
        resolve(how);
      };
      req.on("response", (res) => {
        res.resume();
        done(`status ${res.statusCode}`);
      });
      req.on("error", () => done("closed"));
      req.on("close", () => done("closed"));
    });
    // Cut off well before the body could have arrived (1000 bytes at 2 a second is 500 s).
    expect(ended).toMatch(/^(status (408|504)|closed)$/);
    expect(sent).toBeLessThan(1000);
    expect(sent).toBeGreaterThanOrEqual(Math.floor(REQUEST_TIMEOUT_MS / 500) - 1);
  });
});

describe("inputs at the edge (issue 13 items 10-12)", () => {
  const grpcAs = (key: string) =>
    createClient(
      JobService,
      createGrpcTransport({ baseUrl: cluster().addresses.gatewayGrpc, interceptors: [bearer(key)] }),
    );

  test("a 10 KB or 100 KB job id is NotFound at once, quoted as a short prefix, over gRPC and Connect", async () => {
    for (const jobs of [grpcAs(KEYS.acme), jobsAs(KEYS.acme)]) {
      for (const size of [10_000, 100_000]) {
        const started = Date.now();
        const err = await failure(jobs.getJob({ jobId: "j".repeat(size) }, { timeoutMs: 10_000 }));
        expect([err.code, err.rawMessage]).toEqual([Code.NotFound, `job "${"j".repeat(64)}…" not found`]);
        expect(Date.now() - started).toBeLessThan(5_000);
      }
    }
    // A well-formed id that names no job is the coordinator's NotFound, quoted the same way.
    const unknown = await failure(grpcAs(KEYS.acme).cancelJob({ jobId: "A".repeat(20) }));
    expect([unknown.code, unknown.rawMessage]).toEqual([Code.NotFound, `job ${"A".repeat(20)} not found`]);
  });

  test("an upload key longer than S3 allows is InvalidArgument naming the limit, not FailedPrecondition", async () => {
    const key = `uploads/acme/x/${"k".repeat(100_000)}.jpg`;
    const err = await failure(grpcAs(KEYS.acme).submitJob({ sources: [{ kind: { case: "uploadKey", value: key } }] }));
    expect([err.code, err.rawMessage]).toEqual([
      Code.InvalidArgument,
      `sources[0].upload_key: expected at most 1024 bytes but received ${key.length}`,
    ]);
  });

  test("too many sources is the same InvalidArgument through the gateway as from the coordinator", async () => {
    const sources = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        kind: { case: "uploadKey" as const, value: `uploads/acme/x.1/${i}.jpg` },
      }));
    for (const jobs of [grpcAs(KEYS.acme), jobsAs(KEYS.acme)]) {
      for (const n of [10_001, 100_001]) {
        const err = await failure(jobs.submitJob({ sources: sources(n) }));
        expect(err.code, `${n}`).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(new RegExp(`^sources: at most 10000 sources, received ${n}`));
      }
    }
  });

  test("a long name gets the same InvalidArgument on every upload path; an empty file the same words", async () => {
    const name = `${"n".repeat(2_000)}.jpg`;
    const expected = "Expected at most 255 characters for name but received 2004";
    const put = await fetch(`${cluster().addresses.gatewayHttp}/v1/uploads/${name}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${KEYS.acme}` },
      body: "abc",
    });
    expect([put.status, await put.json()]).toEqual([400, { code: "invalid_argument", message: expected }]);
    const form = new FormData();
    form.append("file", new Blob(["abc"]), name);
    const multipart = await fetch(`${cluster().addresses.gatewayHttp}/v1/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS.acme}` },
      body: form,
    });
    expect([multipart.status, await multipart.json()]).toEqual([400, { code: "invalid_argument", message: expected }]);
    const slots = await failure(grpcAs(KEYS.acme).createUploads({ files: [{ name, size: 3n }] }));
    expect([slots.code, slots.rawMessage]).toEqual([Code.InvalidArgument, expected]);

    const emptyPut = await fetch(`${cluster().addresses.gatewayHttp}/v1/uploads/empty.jpg`, {
      method: "PUT",
      headers: { authorization: `Bearer ${KEYS.acme}` },
      body: "",
    });
    expect(await emptyPut.json()).toEqual({ code: "invalid_argument", message: '"empty.jpg" is empty' });
    const emptyForm = new FormData();
    emptyForm.append("file", new Blob([]), "empty.jpg");
    const emptyMultipart = await fetch(`${cluster().addresses.gatewayHttp}/v1/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS.acme}` },
      body: emptyForm,
    });
    expect(await emptyMultipart.json()).toEqual({ code: "invalid_argument", message: '"empty.jpg" is empty' });
  });

  test('"..png" is stored as image.png, keeping its extension', async () => {
    const res = await fetch(`${cluster().addresses.gatewayHttp}/v1/uploads/..png`, {
      method: "PUT",
      headers: { authorization: `Bearer ${KEYS.acme}` },
      body: "abc",
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { key: string }).key).toMatch(/^uploads\/acme\/[^/]+\/image\.png$/);
  });

  test("GET /v1/openapi.json needs no key and documents the routes", async () => {
    const res = await get("/v1/openapi.json");
    expect(res.status).toBe(200);
    const document = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toContain("/v1/jobs/{id}/results.zip");
  });
});

// Last: it spends the shared bucket of failed attempts.
describe("guessing keys", () => {
  test("wrong keys are throttled as a whole and logged without the key; real keys still pass", async () => {
    const guesses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => get("/v1/jobs/x/report.json", `guess-${i}-0123456789abcdef`)),
    );
    const statuses = guesses.map((res) => res.status);
    expect(statuses).toContain(401);
    expect(statuses).toContain(429);
    expect((await get("/v1/jobs/nope/report.json", KEYS.acme)).status).toBe(404);
    const logged = cluster()
      .gateway.jsonLogs()
      .filter((line) => line.msg === "unknown API key refused");
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toContain("guess-");
  });
});
