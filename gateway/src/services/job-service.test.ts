import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { createLogger } from "@imgc/common";
import { JobSchema, JobService, JobState, TENANT_HEADER, type UploadImageRequest } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { authGate, createAuthenticator } from "../plugins/auth.js";
import { rejection } from "../testing/rejection.js";
import { createJobService } from "./job-service.js";
import { createUploads, type UploadStorage } from "./uploads.js";

const log = createLogger("gateway-test", "silent");

/** Storage that reads each stream to its end, the way S3 would, and remembers what it got. */
function fakeStorage() {
  const objects = new Map<string, { size: number; sha256: string; declared: number; contentType: string }>();
  const storage: UploadStorage = {
    async putStream(key: string, body: Readable, size: number, contentType: string) {
      const hash = createHash("sha256");
      let received = 0;
      for await (const chunk of body) {
        received += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      objects.set(key, { size: received, sha256: hash.digest("hex"), declared: size, contentType });
    },
    async presignPut(key: string, expirySeconds: number) {
      return `http://s3.test/imgc/${key}?expires=${expirySeconds}`;
    },
  };
  return { storage, objects };
}

/** A gateway JobService in memory, in front of a fake coordinator that records the tenant of each call. */
function setup(coordinatorImpl: Partial<ServiceImpl<typeof JobService>> = {}, apiKeys = new Map<string, string>()) {
  const tenants: (string | null)[] = [];
  const coordinator = createClient(
    JobService,
    createRouterTransport(({ service }) => service(JobService, coordinatorImpl), {
      router: {
        interceptors: [
          (next) => (request) => {
            tenants.push(request.header.get(TENANT_HEADER));
            return next(request);
          },
        ],
      },
    }),
  );
  const { storage, objects } = fakeStorage();
  const uploads = createUploads({ storage, maxUploadBytes: 1000, log, newId: () => "upload-id" });
  const service = createJobService({ coordinator, uploads, log });
  const client = createClient(
    JobService,
    createRouterTransport(({ service: register }) => register(JobService, service), {
      router: { requestGate: authGate(createAuthenticator({ apiKeys }).tenant) },
    }),
  );
  return { client, tenants, objects };
}

/**
 * A gateway JobService in front of a coordinator client stubbed by hand, not served by a router: what it throws
 * reaches the service as is, the way a broken or unreachable client's errors would.
 */
function inFrontOf(coordinator: Record<string, () => Promise<never>>) {
  const { storage } = fakeStorage();
  const service = createJobService({
    coordinator: coordinator as unknown as Parameters<typeof createJobService>[0]["coordinator"],
    uploads: createUploads({ storage, maxUploadBytes: 10, log }),
    log,
  });
  return createClient(
    JobService,
    createRouterTransport(({ service: register }) => register(JobService, service)),
  );
}

async function* uploadMessages(header: { name: string; size: bigint } | undefined, chunks: Uint8Array[]) {
  if (header) yield { part: { case: "header", value: header } } as UploadImageRequest;
  for (const chunk of chunks) yield { part: { case: "chunk", value: chunk } } as UploadImageRequest;
}

describe("forwarding to the coordinator", () => {
  test("passes the request and the caller's tenant, and returns the coordinator's answer", async () => {
    const { client, tenants } = setup(
      {
        getJob: (request) => ({ job: { id: request.jobId, tenant: "acme", state: JobState.RUNNING } }),
      },
      new Map([["secret-1", "acme"]]),
    );
    const { job } = await client.getJob({ jobId: "job-1" }, { headers: { authorization: "Bearer secret-1" } });
    expect(job).toMatchObject({ id: "job-1", state: JobState.RUNNING });
    expect(tenants).toEqual(["acme"]);
  });

  test("a caller cannot choose its tenant with its own x-imgc-tenant header", async () => {
    const { client, tenants } = setup({ getJob: () => ({}) });
    await client.getJob({ jobId: "job-1" }, { headers: { [TENANT_HEADER]: "someone-else" } });
    expect(tenants).toEqual(["default"]);
  });

  test("a coordinator ConnectError reaches the caller with its code and message", async () => {
    const { client } = setup({
      submitJob: () => {
        throw new ConnectError("at least one source is required", Code.InvalidArgument);
      },
      getJob: () => {
        throw new ConnectError("no job job-x", Code.NotFound);
      },
    });
    const invalid = await rejection(client.submitJob({}));
    expect([invalid.code, invalid.rawMessage]).toEqual([Code.InvalidArgument, "at least one source is required"]);
    const missing = await rejection(client.getJob({ jobId: "job-x" }));
    expect([missing.code, missing.rawMessage]).toEqual([Code.NotFound, "no job job-x"]);
  });

  test("an unexpected failure of the coordinator client becomes Internal, without its detail", async () => {
    const client = inFrontOf({
      getJob: async () => {
        throw new TypeError("cannot read property of undefined at /srv/imgc/secret.ts");
      },
    });
    const err = await rejection(client.getJob({ jobId: "x" }));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
  });

  test("an unreachable coordinator is Unavailable, and the message names no host", async () => {
    const client = inFrontOf({
      listJobs: async () => {
        throw new ConnectError("connect ECONNREFUSED 10.1.2.3:50051", Code.Unavailable, undefined, undefined, {
          code: "ECONNREFUSED",
        });
      },
    });
    const err = await rejection(client.listJobs({}));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).not.toMatch(/10\.1\.2\.3|ECONNREFUSED/);
  });

  test("WatchJob is relayed as a stream: events arrive while the coordinator's stream is still open", async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { client, tenants } = setup({
      async *watchJob(request) {
        yield {
          event: {
            sequence: 1n,
            jobId: request.jobId,
            kind: { case: "job", value: create(JobSchema, { id: request.jobId }) },
          },
        };
        await released;
        yield { event: { sequence: 2n, jobId: request.jobId } };
        throw new ConnectError("the job's events expired", Code.OutOfRange);
      },
    });
    const seen: bigint[] = [];
    const stream = client.watchJob({ jobId: "job-7", afterSequence: 0n });
    let failure: ConnectError | undefined;
    try {
      for await (const { event } of stream) {
        seen.push(event?.sequence ?? -1n);
        // The first event is here although the coordinator has not produced the second one yet.
        if (seen.length === 1) release();
      }
    } catch (err) {
      failure = ConnectError.from(err);
    }
    expect(seen).toEqual([1n, 2n]);
    expect([failure?.code, failure?.rawMessage]).toEqual([Code.OutOfRange, "the job's events expired"]);
    expect(tenants).toEqual(["default"]);
  });

  test("WatchJob goes on from another coordinator when one fails mid-stream: each event once, in order", async () => {
    const asked: bigint[] = [];
    const finished = create(JobSchema, { id: "job-8", state: JobState.COMPLETED, finishedAt: { seconds: 1n } });
    const { client } = setup({
      async *watchJob(request) {
        asked.push(request.afterSequence);
        if (request.afterSequence === 0n) {
          yield { event: { sequence: 1n, jobId: request.jobId } };
          yield { event: { sequence: 2n, jobId: request.jobId } };
          // The leader serving this stream died.
          throw new ConnectError("connection reset", Code.Unavailable);
        }
        if (request.afterSequence === 2n) {
          yield { event: { sequence: 3n, jobId: request.jobId } };
          // This coordinator is stopping: it ends its streams cleanly, before the job's end.
          return;
        }
        yield { event: { sequence: 4n, jobId: request.jobId, kind: { case: "job", value: finished } } };
      },
      getJob: (request) => ({ job: create(JobSchema, { id: request.jobId, state: JobState.RUNNING }) }),
    });
    const seen: bigint[] = [];
    for await (const { event } of client.watchJob({ jobId: "job-8" })) seen.push(event?.sequence ?? -1n);
    expect(seen).toEqual([1n, 2n, 3n, 4n]);
    expect(asked).toEqual([0n, 2n, 3n]);
  });

  test("WatchJob ends when a stream ends after the job did, without asking again", async () => {
    const asked: bigint[] = [];
    const { client } = setup({
      // A stream with nothing left to say: the job ended before the caller's last event.
      watchJob(request) {
        asked.push(request.afterSequence);
        return (async function* () {})();
      },
      getJob: (request) => ({ job: create(JobSchema, { id: request.jobId, finishedAt: { seconds: 1n } }) }),
    });
    const seen: unknown[] = [];
    for await (const response of client.watchJob({ jobId: "job-9", afterSequence: 7n })) seen.push(response);
    expect(seen).toEqual([]);
    expect(asked).toEqual([7n]);
  });
});

describe("authentication", () => {
  const keys = new Map([
    ["key-a", "acme"],
    ["key-b", "beta"],
  ]);

  test("a call without a key, or with an unknown key, is Unauthenticated and never reaches the coordinator", async () => {
    const { client, tenants } = setup({ getJob: () => ({}) }, keys);
    const missing = await rejection(client.getJob({ jobId: "j" }));
    expect(missing.code).toBe(Code.Unauthenticated);
    const unknown = await rejection(client.getJob({ jobId: "j" }, { headers: { authorization: "Bearer nope" } }));
    expect(unknown.code).toBe(Code.Unauthenticated);
    expect(tenants).toEqual([]);
  });

  test("each key maps to its tenant, uploads included", async () => {
    const { client, tenants, objects } = setup({ listJobs: () => ({}) }, keys);
    await client.listJobs({}, { headers: { authorization: "Bearer key-b" } });
    expect(tenants).toEqual(["beta"]);
    const stored = await client.uploadImage(uploadMessages({ name: "a.png", size: 3n }, [new Uint8Array([1, 2, 3])]), {
      headers: { authorization: "Bearer key-a" },
    });
    // The id names the declared size, which the coordinator holds the stored object to.
    expect(stored.key).toBe("uploads/acme/upload-id.3/a.png");
    expect(objects.has("uploads/acme/upload-id.3/a.png")).toBe(true);
  });
});

describe("UploadImage", () => {
  test("streams the data messages into storage under the tenant's upload key", async () => {
    const { client, objects } = setup();
    const chunks = [new Uint8Array(300).fill(1), new Uint8Array(300).fill(2), new Uint8Array(100).fill(3)];
    const response = await client.uploadImage(uploadMessages({ name: "../My Photo.JPG", size: 700n }, chunks));
    expect(response).toMatchObject({ key: "uploads/default/upload-id.700/My_Photo.JPG", size: 700n });
    const expected = createHash("sha256");
    for (const chunk of chunks) expected.update(chunk);
    expect(objects.get(response.key)).toEqual({
      size: 700,
      declared: 700,
      sha256: expected.digest("hex"),
      contentType: "application/octet-stream",
    });
  });

  test("the header is required, first", async () => {
    const { client } = setup();
    const none = await rejection(client.uploadImage(uploadMessages(undefined, [new Uint8Array(3)])));
    expect(none.code).toBe(Code.InvalidArgument);
    expect(none.rawMessage).toMatch(/first message must be the header/);
    const empty = await rejection(client.uploadImage(uploadMessages(undefined, [])));
    expect(empty.code).toBe(Code.InvalidArgument);
  });

  test("name and size are required", async () => {
    const { client } = setup();
    const noName = await rejection(client.uploadImage(uploadMessages({ name: "", size: 3n }, [new Uint8Array(3)])));
    expect([noName.code, noName.rawMessage]).toEqual([Code.InvalidArgument, "the file name is required"]);
    const noSize = await rejection(
      client.uploadImage(uploadMessages({ name: "a.png", size: 0n }, [new Uint8Array(3)])),
    );
    // The same words as a multipart part with no bytes (issue 13 item 12).
    expect([noSize.code, noSize.rawMessage]).toEqual([Code.InvalidArgument, '"a.png" is empty']);
  });

  test("a name over 255 characters is refused on every path, and messages quote only a short prefix of it", async () => {
    const { client } = setup();
    const long = await rejection(
      client.uploadImage(uploadMessages({ name: `${"n".repeat(2_000)}.png`, size: 3n }, [new Uint8Array(3)])),
    );
    expect([long.code, long.rawMessage]).toEqual([
      Code.InvalidArgument,
      "Expected at most 255 characters for name but received 2004",
    ]);
    const slots = await rejection(client.createUploads({ files: [{ name: "x".repeat(256), size: 3n }] }));
    expect(slots.rawMessage).toBe("Expected at most 255 characters for name but received 256");
    const empty = await rejection(client.createUploads({ files: [{ name: `${"e".repeat(250)}\n`, size: 0n }] }));
    expect(empty.rawMessage).toBe(`"${"e".repeat(64)}…" is empty`);
  });

  test("a declared size over the limit is ResourceExhausted before any byte is stored", async () => {
    const { client, objects } = setup();
    const err = await rejection(
      client.uploadImage(uploadMessages({ name: "huge.jpg", size: 5000n }, [new Uint8Array(10)])),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe('"huge.jpg" is 5000 bytes, larger than the upload limit of 1000 bytes (1 KB)');
    expect(objects.size).toBe(0);
  });

  test("more or fewer bytes than declared fail with InvalidArgument and store nothing", async () => {
    const { client, objects } = setup();
    const short = await rejection(
      client.uploadImage(uploadMessages({ name: "a.png", size: 10n }, [new Uint8Array(4)])),
    );
    expect([short.code, short.rawMessage]).toEqual([
      Code.InvalidArgument,
      '"a.png" ended after 4 of its declared 10 bytes',
    ]);
    const long = await rejection(
      client.uploadImage(uploadMessages({ name: "b.png", size: 5n }, [new Uint8Array(4), new Uint8Array(4)])),
    );
    expect([long.code, long.rawMessage]).toEqual([
      Code.InvalidArgument,
      '"b.png" is longer than its declared size of 5 bytes',
    ]);
    expect(objects.size).toBe(0);
  });

  test("a second header is refused", async () => {
    const { client } = setup();
    async function* twoHeaders() {
      yield { part: { case: "header", value: { name: "a.png", size: 2n } } } as UploadImageRequest;
      yield { part: { case: "header", value: { name: "b.png", size: 2n } } } as UploadImageRequest;
    }
    const err = await rejection(client.uploadImage(twoHeaders()));
    expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, "only the first message may carry the header"]);
  });
});

describe("CreateUploads", () => {
  test("returns one short-lived presigned slot per file, in order", async () => {
    const { client } = setup();
    const before = Date.now();
    const { slots } = await client.createUploads({
      files: [
        { name: "one.jpg", size: 10n },
        { name: "two.png", size: 1000n },
      ],
    });
    expect(slots.map((slot) => slot.key)).toEqual([
      "uploads/default/upload-id.10/one.jpg",
      "uploads/default/upload-id.1000/two.png",
    ]);
    expect(slots[0]?.url).toBe("http://s3.test/imgc/uploads/default/upload-id.10/one.jpg?expires=900");
    const expiresMs = Number(slots[0]?.expiresAt?.seconds ?? 0n) * 1000;
    expect(expiresMs).toBeGreaterThanOrEqual(before + 899_000);
    expect(expiresMs).toBeLessThanOrEqual(Date.now() + 901_000);
  });

  test("a file over the limit fails the call with ResourceExhausted; no files is InvalidArgument", async () => {
    const { client } = setup();
    const big = await rejection(
      client.createUploads({
        files: [
          { name: "ok.jpg", size: 10n },
          { name: "big.jpg", size: 1001n },
        ],
      }),
    );
    expect(big.code).toBe(Code.ResourceExhausted);
    expect(big.rawMessage).toMatch(/"big.jpg" is 1001 bytes, larger than the upload limit of 1000 bytes/);
    const none = await rejection(client.createUploads({ files: [] }));
    expect(none.code).toBe(Code.InvalidArgument);
  });
});
