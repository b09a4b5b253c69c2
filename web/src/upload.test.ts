import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { type CreateUploadsRequest, JobService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { type PutFile, UploadError, uploadFiles } from "./upload.js";

/** A JobService whose CreateUploads hands out slots (and refuses files over `limit` bytes, as the gateway does). */
function slotService(options: { limit?: number; expiresInMs?: number } = {}) {
  const calls: CreateUploadsRequest[] = [];
  let n = 0;
  const transport = createRouterTransport(({ service }) =>
    service(JobService, {
      createUploads(req) {
        calls.push(req);
        for (const f of req.files) {
          if (options.limit !== undefined && f.size > BigInt(options.limit)) {
            throw new ConnectError(`${f.name} is larger than the limit`, Code.InvalidArgument);
          }
        }
        return {
          slots: req.files.map((f) => ({
            key: `uploads/default/${++n}/${f.name}`,
            url: `https://s3.test/${n}`,
            expiresAt: timestampFromMs(Date.now() + (options.expiresInMs ?? 600_000)),
          })),
        };
      },
    }),
  );
  return { jobs: createClient(JobService, transport), calls };
}

const files = (count: number, size = 10) =>
  Array.from({ length: count }, (_, i) => ({
    file: new File([new Uint8Array(size)], `f${i}.jpg`),
    contentType: "image/jpeg",
  }));

function recorder() {
  const events: string[] = [];
  return {
    events,
    handlers: {
      progress: (i: number, loaded: number) => events.push(`progress ${i} ${loaded}`),
      uploaded: (i: number, key: string) => events.push(`uploaded ${i} ${key}`),
      failed: (i: number, message: string) => events.push(`failed ${i} ${message}`),
    },
  };
}

describe("uploadFiles", () => {
  test("uploads every file, at most `concurrency` at once, asking for slots in batches", async () => {
    const { jobs, calls } = slotService();
    let inFlight = 0;
    let peak = 0;
    const put: PutFile = async (_url, body, _type, onProgress) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      onProgress(body.size);
      inFlight--;
    };
    const { events, handlers } = recorder();
    const keys = await uploadFiles(
      { jobs, put, concurrency: 3, slotBatch: 4 },
      files(10),
      handlers,
      new AbortController().signal,
    );
    expect(keys.every((k) => k?.startsWith("uploads/default/"))).toBe(true);
    expect(new Set(keys).size).toBe(10);
    expect(peak).toBe(3);
    expect(calls.map((c) => c.files.length)).toEqual([4, 4, 2]);
    expect(events.filter((e) => e.startsWith("uploaded"))).toHaveLength(10);
  });

  test("a retryable failure is retried; a refusal is reported once, and the other files go on", async () => {
    const { jobs } = slotService();
    const tries = new Map<string, number>();
    const put: PutFile = async (url) => {
      const n = (tries.get(url) ?? 0) + 1;
      tries.set(url, n);
      if (url.endsWith("/1") && n < 3) throw new UploadError("network error", true);
      if (url.endsWith("/2")) throw new UploadError("Storage refused the upload (HTTP 400).", false);
    };
    const { events, handlers } = recorder();
    const keys = await uploadFiles({ jobs, put, backoffMs: () => 1 }, files(3), handlers, new AbortController().signal);
    expect(keys[0]).toBeDefined();
    expect(keys[1]).toBeUndefined();
    expect(keys[2]).toBeDefined();
    expect(tries.get("https://s3.test/1")).toBe(3);
    expect(events).toContain("failed 1 Storage refused the upload (HTTP 400).");
  });

  test("a slot refused with 403 (expired) is replaced once by a fresh one", async () => {
    const { jobs, calls } = slotService();
    const put: PutFile = async (url) => {
      if (url === "https://s3.test/1") throw new UploadError("Storage refused the upload (HTTP 403).", false, true);
    };
    const { handlers } = recorder();
    const keys = await uploadFiles({ jobs, put }, files(1), handlers, new AbortController().signal);
    expect(keys[0]).toBe("uploads/default/2/f0.jpg");
    expect(calls).toHaveLength(2);
  });

  test("one file the gateway refuses does not sink the others of its batch", async () => {
    const { jobs } = slotService({ limit: 50 });
    const items = [...files(2), { file: new File([new Uint8Array(100)], "huge.jpg"), contentType: "image/jpeg" }];
    const { events, handlers } = recorder();
    const keys = await uploadFiles({ jobs, put: async () => {} }, items, handlers, new AbortController().signal);
    expect(keys.slice(0, 2).every(Boolean)).toBe(true);
    expect(keys[2]).toBeUndefined();
    expect(events).toContain("failed 2 huge.jpg is larger than the limit");
  });

  test("aborting stops the queue and rejects", async () => {
    const { jobs } = slotService();
    const abort = new AbortController();
    let started = 0;
    const put: PutFile = (_url, _body, _type, _progress, signal) =>
      new Promise((_resolve, reject) => {
        started++;
        signal.addEventListener("abort", () => reject(signal.reason));
      });
    const { handlers } = recorder();
    const done = uploadFiles({ jobs, put, concurrency: 2 }, files(6), handlers, abort.signal);
    await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    await expect(done).rejects.toBeDefined();
    expect(started).toBe(2);
  });
});
