/**
 * The results routes over real ports, reading outputs from the project's real S3 server (its own process).
 * The coordinator is an in-memory JobService that pages GetResults like the real one and scopes jobs to the
 * x-imgc-tenant header: it is not what is tested here.
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Storage } from "@imgc/common";
import {
  ErrorCode,
  ImageFormat,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  JobSchema,
  JobState,
  TENANT_HEADER,
} from "@imgc/proto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import yauzl from "yauzl";
import type { Gateway } from "../server.js";
import { peakGrowth, type S3Server, startS3Server } from "../testing/s3-server.js";
import { buildTestGateway, fakeCoordinator } from "../testing/test-gateway.js";

const MiB = 1024 * 1024;
const KEY_ACME = "acme-key";
const KEY_BETA = "beta-key";
const JOB = "job-aaaaaaaaaaaaaaaa"; // shaped like a coordinator's job id (20 characters)
/** The fake coordinator's page size, small so that the routes have to follow next_page_token. */
const PAGE = 7;

let s3: S3Server;
let storage: Storage;
let gateway: Gateway;
let base: string;
let scratch: string;
/** Item id → the sha256 of its output object. */
const digests = new Map<string, string>();
let results: ItemResult[] = [];
/** The job's label, as the fake coordinator answers it. */
let label = "";

function result(index: number, source: string, state: ItemState, size = 0): ItemResult {
  const itemId = String(index).padStart(6, "0");
  const out = state === ItemState.DONE || state === ItemState.KEPT_ORIGINAL;
  const extension = state === ItemState.KEPT_ORIGINAL ? "png" : "webp";
  return create(ItemResultSchema, {
    itemId,
    sourceKey: source,
    state,
    outputKey: out ? `outputs/acme/${JOB}/${itemId}.${extension}` : "",
    format: out ? (state === ItemState.KEPT_ORIGINAL ? ImageFormat.PNG : ImageFormat.WEBP) : ImageFormat.UNSPECIFIED,
    inputBytes: BigInt(size * 2 + 1),
    outputBytes: BigInt(size),
    quality: out ? 75 : 0,
    workerId: out ? "worker-1" : "",
    ...(state === ItemState.FAILED ? { errorCode: ErrorCode.CORRUPT_INPUT, errorMessage: "truncated JPEG" } : {}),
  });
}

beforeAll(async () => {
  s3 = await startS3Server();
  storage = s3.storage;
  scratch = await mkdtemp(join(tmpdir(), "imgc-results-"));
  // 24 outputs of 2 MiB (48 MiB in all), two sources sharing a name, a failed item and a pending one.
  const sources = Array.from({ length: 24 }, (_, i) => `uploads/acme/u${i}/${i === 5 ? "photo3" : `photo${i}`}.jpg`);
  results = sources.map((source, i) =>
    result(i, source, i === 7 ? ItemState.KEPT_ORIGINAL : ItemState.DONE, 2 * MiB - i),
  );
  results.push(result(24, "uploads/acme/u24/broken.jpg", ItemState.FAILED));
  results.push(result(25, "uploads/acme/u25/later.jpg", ItemState.PENDING));
  for (const item of results) {
    if (!item.outputKey) continue;
    const bytes = randomBytes(Number(item.outputBytes));
    digests.set(item.itemId, createHash("sha256").update(bytes).digest("hex"));
    await storage.putBuffer(item.outputKey, bytes, "application/octet-stream");
  }

  const coordinator = fakeCoordinator({
    getResults(request, context) {
      // Like the coordinator: another tenant's job does not exist.
      if (request.jobId !== JOB || context.requestHeader.get(TENANT_HEADER) !== "acme") {
        throw new ConnectError(`job ${request.jobId} not found`, Code.NotFound);
      }
      const offset = Number(request.pageToken || "0");
      const end = Math.min(results.length, offset + PAGE);
      return {
        results: results.slice(offset, end),
        nextPageToken: end < results.length ? String(end) : "",
        job: create(JobSchema, { id: JOB, tenant: "acme", state: JobState.RUNNING, label }),
      };
    },
  });
  gateway = await buildTestGateway({
    coordinator,
    storage,
    apiKeys: new Map([
      [KEY_ACME, "acme"],
      [KEY_BETA, "beta"],
    ]),
    maxUploadBytes: MiB,
  });
  base = await gateway.http.listen({ host: "127.0.0.1", port: 0 });
}, 120_000);

afterAll(async () => {
  await gateway?.http.close();
  await gateway?.grpc.close();
  await s3?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** GETs `path` into a file; resolves with the status, headers and the file's path. */
function download(path: string, key = KEY_ACME) {
  const file = join(scratch, `${randomBytes(4).toString("hex")}.bin`);
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; file: string }>((resolve, reject) => {
    http
      .get(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } }, (res) => {
        pipeline(res, createWriteStream(file)).then(
          () => resolve({ status: res.statusCode ?? 0, headers: res.headers, file }),
          reject,
        );
      })
      .on("error", reject);
  });
}

interface Entry {
  name: string;
  sha256: string;
  text?: string;
}

function readZip(file: string): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err) return reject(err);
      const entries: Entry[] = [];
      zip.on("error", reject);
      zip.on("end", () => resolve(entries));
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (openErr, stream) => {
          if (openErr) return reject(openErr);
          const hash = createHash("sha256");
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => {
            hash.update(chunk);
            if (entry.fileName.endsWith(".csv")) chunks.push(chunk);
          });
          stream.on("error", reject);
          stream.on("end", () => {
            const item: Entry = { name: entry.fileName, sha256: hash.digest("hex") };
            if (chunks.length > 0) item.text = Buffer.concat(chunks).toString();
            entries.push(item);
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe("GET /v1/jobs/:id/results.zip", () => {
  test("streams every output under its source's name, report/report.csv last, with flat gateway memory", async () => {
    // Warm up (JIT, sockets, yazl) so the baseline is the steady state.
    expect((await download(`/v1/jobs/${JOB}/report.csv`)).status).toBe(200);
    const { result: res, growth } = await peakGrowth(() => download(`/v1/jobs/${JOB}/results.zip`));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/zip");
    expect(res.headers["content-disposition"]).toBe(`attachment; filename="${JOB}.zip"`);
    const entries = await readZip(res.file);

    const outputs = results.filter((r) => r.outputKey !== "");
    const names = outputs.map((r) => {
      const stem = r.sourceKey
        .split("/")
        .pop()
        ?.replace(/\.jpg$/, "");
      return `${stem}${r.itemId === "000005" ? " (2)" : ""}.${r.state === ItemState.KEPT_ORIGINAL ? "png" : "webp"}`;
    });
    expect(entries.map((e) => e.name)).toEqual([...names, "report/report.csv"]);
    outputs.forEach((r, i) => {
      expect(entries[i]?.sha256, r.itemId).toBe(digests.get(r.itemId));
    });
    const report = (await download(`/v1/jobs/${JOB}/report.csv`)).file;
    const { readFile } = await import("node:fs/promises");
    expect(entries.at(-1)?.text).toBe(await readFile(report, "utf8"));

    const archiveMiB = outputs.reduce((sum, r) => sum + Number(r.outputBytes), 0) / MiB;
    console.log(
      `results.zip of ${archiveMiB.toFixed(0)} MiB (${outputs.length} entries): peak live memory growth ${(growth / MiB).toFixed(1)} MiB`,
    );
    // A gateway that buffered the archive (or one object per entry at once) would hold far more.
    expect(growth / MiB).toBeLessThan(16);
  }, 120_000);

  test("is saved under the job's label in safe characters, as is report.csv; without a label, under the id", async () => {
    label = 'Rocket "launch"/día 1';
    try {
      const zip = await fetch(`${base}/v1/jobs/${JOB}/results.zip`, {
        headers: { authorization: `Bearer ${KEY_ACME}` },
      });
      expect(zip.headers.get("content-disposition")).toBe('attachment; filename="Rocket _launch_dia 1.zip"');
      await zip.body?.cancel();
      const csv = await fetch(`${base}/v1/jobs/${JOB}/report.csv`, {
        headers: { authorization: `Bearer ${KEY_ACME}` },
      });
      expect(csv.headers.get("content-disposition")).toBe('attachment; filename="Rocket _launch_dia 1-report.csv"');
      await csv.body?.cancel();
      // A name the person gave in a client (the web keeps its renames in the browser) comes first.
      const named = await fetch(`${base}/v1/jobs/${JOB}/results.zip?name=${encodeURIComponent("Café <photos>")}`, {
        headers: { authorization: `Bearer ${KEY_ACME}` },
      });
      expect(named.headers.get("content-disposition")).toBe('attachment; filename="Cafe _photos_.zip"');
      await named.body?.cancel();
    } finally {
      label = "";
    }
    const csv = await fetch(`${base}/v1/jobs/${JOB}/report.csv`, { headers: { authorization: `Bearer ${KEY_ACME}` } });
    expect(csv.headers.get("content-disposition")).toBe(`attachment; filename="${JOB}-report.csv"`);
    await csv.body?.cancel();
  });

  test("another tenant's job, an unknown job and a malformed id are 404 not_found; no key is 401", async () => {
    for (const [path, key] of [
      [`/v1/jobs/${JOB}/results.zip`, KEY_BETA],
      [`/v1/jobs/${JOB}/report.csv`, KEY_BETA],
      [`/v1/jobs/${JOB}/report.json`, KEY_BETA],
      ["/v1/jobs/job-bbbbbbbbbbbbbbbbb/results.zip", KEY_ACME],
      ["/v1/jobs/..%2F..%2Fetc/results.zip", KEY_ACME],
    ] as const) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { code: string }).code, path).toBe("not_found");
    }
    const anonymous = await fetch(`${base}/v1/jobs/${JOB}/results.zip`);
    expect([anonymous.status, ((await anonymous.json()) as { code: string }).code]).toEqual([401, "unauthenticated"]);
  });

  test("an output missing from S3 cuts the download instead of sending a short zip", async () => {
    const victim = results.find((r) => r.itemId === "000010") as ItemResult;
    const bytes = await storage.getBuffer(victim.outputKey);
    await storage.remove(victim.outputKey);
    try {
      const outcome = await download(`/v1/jobs/${JOB}/results.zip`).then(
        async (res) =>
          readZip(res.file).then(
            () => "a complete zip",
            (err: Error) => `unreadable: ${err.message}`,
          ),
        (err: Error) => `cut: ${err.message}`,
      );
      expect(outcome).not.toBe("a complete zip");
    } finally {
      await storage.putBuffer(victim.outputKey, bytes, "application/octet-stream");
    }
  });
});

describe("results.zip against forged results", () => {
  test("an output key outside the job's own folder is never read, whatever the result claims", async () => {
    // Another tenant's output, and one that climbs out of the job's folder: what a forged report would name.
    const foreign = ["outputs/beta/job-bbbbbbbbbbbbbbbbb/000000.webp", `outputs/acme/${JOB}/../../beta/x.webp`];
    for (const key of foreign) await storage.putBuffer(key, Buffer.from("beta's secret image"), "image/webp");
    const saved = results;
    results = [
      result(0, "uploads/acme/u0/photo0.jpg", ItemState.DONE, 2 * MiB),
      ...foreign.map((outputKey, i) =>
        create(ItemResultSchema, {
          ...result(i + 1, `uploads/acme/f${i}/stolen${i}.jpg`, ItemState.DONE, 19),
          outputKey,
        }),
      ),
    ];
    try {
      const res = await download(`/v1/jobs/${JOB}/results.zip`);
      expect(res.status).toBe(200);
      const entries = await readZip(res.file);
      expect(entries.map((e) => e.name)).toEqual(["photo0.webp", "report/report.csv"]);
    } finally {
      results = saved;
    }
  });

  test("one key runs at most 2 downloads at once; the third is 429 until one ends", async () => {
    const open: http.IncomingMessage[] = [];
    const started = () =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        http
          .get(`${base}/v1/jobs/${JOB}/results.zip`, { headers: { authorization: `Bearer ${KEY_ACME}` } }, (res) => {
            // Not read: the 48 MiB archive stalls on backpressure, so the download stays open.
            res.pause();
            resolve(res);
          })
          .on("error", reject);
      });
    try {
      open.push(await started(), await started());
      expect(open.map((res) => res.statusCode)).toEqual([200, 200]);
      const third = await fetch(`${base}/v1/jobs/${JOB}/results.zip`, {
        headers: { authorization: `Bearer ${KEY_ACME}` },
      });
      expect(third.status).toBe(429);
      expect(((await third.json()) as { code: string }).code).toBe("resource_exhausted");
      // Another key has its own allowance.
      const other = await fetch(`${base}/v1/jobs/${JOB}/report.json`, {
        headers: { authorization: `Bearer ${KEY_BETA}` },
      });
      expect(other.status).toBe(404);
    } finally {
      for (const res of open) res.destroy();
    }
  });
});

describe("GET /v1/jobs/:id/report.csv and report.json", () => {
  test("work for a running job: every item, the failure's code and message, and totals", async () => {
    const csv = await fetch(`${base}/v1/jobs/${JOB}/report.csv`, { headers: { authorization: `Bearer ${KEY_ACME}` } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const lines = (await csv.text()).trimEnd().split("\r\n");
    expect(lines).toHaveLength(1 + results.length + 1);
    expect(lines[0]).toMatch(/^item_id,source_key,name,state,input_bytes,output_bytes,bytes_saved,saving_percent,/);
    // The last column, labels, is empty: the job did not detect.
    expect(lines[25]).toBe(
      `000024,uploads/acme/u24/broken.jpg,,FAILED,1${",".repeat(12)}CORRUPT_INPUT,truncated JPEG,,,,,,`,
    );
    expect(lines[26]).toBe(`000025,uploads/acme/u25/later.jpg,,PENDING,1${",".repeat(19)}`);
    expect(lines[27]).toMatch(/^TOTAL,26 items,,"23 done, 1 kept, 1 failed, 1 pending",/);

    const json = await fetch(`${base}/v1/jobs/${JOB}/report.json`, {
      headers: { authorization: `Bearer ${KEY_ACME}` },
    });
    expect(json.status).toBe(200);
    const report = (await json.json()) as {
      job: { id: string; state: string };
      items: { itemId: string; name: string; bytesSaved: number | null }[];
      totals: { items: number; outputBytes: number };
    };
    expect(report.job).toMatchObject({ id: JOB, state: "RUNNING" });
    expect(report.items).toHaveLength(results.length);
    expect(report.items[5]).toMatchObject({ itemId: "000005", name: "photo3 (2).webp", bytesSaved: 2 * MiB - 5 + 1 });
    expect(report.totals).toMatchObject({
      items: 26,
      outputBytes: results.reduce((sum, r) => sum + Number(r.outputBytes), 0),
    });
  });
});
