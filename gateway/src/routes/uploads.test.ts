/**
 * An upload streams: 50 MiB go through `PUT /v1/uploads/:name`, and 40 MiB through a multipart
 * `POST /v1/uploads`, into the project's real S3 server (its own process) while the gateway's memory stays
 * flat, and the stored objects are byte for byte the uploads.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Storage } from "@imgc/common";
import { JobService, type UploadImageRequestSchema } from "@imgc/proto";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Gateway } from "../server.js";
import { liveMemory, peakGrowth, type S3Server, startS3Server } from "../testing/s3-server.js";
import { buildTestGateway } from "../testing/test-gateway.js";
import { MAX_FILES_PER_REQUEST } from "./uploads.js";

const MiB = 1024 * 1024;
const UPLOAD_BYTES = 50 * MiB;
let s3: S3Server | undefined;
let storage: Storage;
let gateway: Gateway;
let base: string;

beforeAll(async () => {
  s3 = await startS3Server();
  storage = s3.storage;
  // Uploads never reach the coordinator.
  gateway = await buildTestGateway({ storage, maxUploadBytes: 64 * MiB });
  base = await gateway.http.listen({ host: "127.0.0.1", port: 0 });
}, 60_000);

afterAll(async () => {
  await gateway?.http.close();
  await gateway?.grpc.close();
  await s3?.stop();
});

/** PUTs `total` bytes made of one reused block, so the test itself allocates nothing per chunk. */
function put(name: string, block: Buffer, total: number): Promise<{ status: number; body: string }> {
  return new Promise((resolvePut, reject) => {
    const req = http.request(`${base}/v1/uploads/${name}`, {
      method: "PUT",
      headers: { "content-length": String(total), "content-type": "application/octet-stream" },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolvePut({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const piece = total - sent >= block.length ? block : block.subarray(0, total - sent);
        sent += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

test("a 50 MiB PUT is streamed into S3 intact, and the gateway's memory does not grow by the upload size", async () => {
  const block = randomBytes(64 * 1024);
  // Warm up (JIT, sockets, the presigning client) so the baseline is the steady state.
  expect((await put("warm-up.bin", block, 2 * MiB)).status).toBe(200);

  const memory = liveMemory;
  const baseline = memory();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memory());
  }, 100);
  const started = Date.now();
  const res = await put("big.bin", block, UPLOAD_BYTES);
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, memory());

  expect(res.status).toBe(200);
  const { key, size } = JSON.parse(res.body) as { key: string; size: number };
  expect(size).toBe(UPLOAD_BYTES);
  const growthMiB = (peak - baseline) / MiB;
  console.log(
    `50 MiB PUT in ${seconds.toFixed(1)} s (${(50 / seconds).toFixed(0)} MiB/s); peak live memory growth ${growthMiB.toFixed(1)} MiB`,
  );
  // A gateway that buffered the upload would hold at least 50 MiB.
  expect(growthMiB).toBeLessThan(16);

  expect((await storage.stat(key)).size).toBe(UPLOAD_BYTES);
  const expected = createHash("sha256");
  for (let sent = 0; sent < UPLOAD_BYTES; sent += block.length) expected.update(block);
  const actual = createHash("sha256");
  for await (const chunk of await storage.getStream(key)) actual.update(chunk as Buffer);
  expect(actual.digest("hex")).toBe(expected.digest("hex"));
}, 120_000);

test("UploadImage over gRPC and a CreateUploads slot both land the exact bytes in S3", async () => {
  const grpcBase = await gateway.grpc.listen({ host: "127.0.0.1", port: 0 });
  const session = new Http2SessionManager(grpcBase);
  const client = createClient(JobService, createGrpcTransport({ baseUrl: grpcBase, sessionManager: session }));
  try {
    const bytes = randomBytes(3 * MiB + 17);
    async function* messages(): AsyncGenerator<MessageInitShape<typeof UploadImageRequestSchema>> {
      yield {
        part: { case: "header", value: { name: "streamed.bin", size: BigInt(bytes.length) } },
      };
      for (let at = 0; at < bytes.length; at += MiB) {
        yield { part: { case: "chunk", value: bytes.subarray(at, at + MiB) } };
      }
    }
    const uploaded = await client.uploadImage(messages());
    expect(uploaded.size).toBe(BigInt(bytes.length));
    expect((await storage.getBuffer(uploaded.key)).equals(bytes)).toBe(true);

    const { slots } = await client.createUploads({ files: [{ name: "direct.bin", size: 1000n }] });
    const [slot] = slots;
    if (!slot) throw new Error("no slot");
    const direct = randomBytes(1000);
    const res = await fetch(slot.url, { method: "PUT", body: direct });
    expect(res.status).toBe(200);
    expect((await storage.getBuffer(slot.key)).equals(direct)).toBe(true);
  } finally {
    session.abort();
  }
});

/** A part of a multipart body: `total` bytes made of `block` repeated (so the test allocates nothing per chunk). */
interface Part {
  filename: string;
  block: Buffer;
  total: number;
}

/** POSTs `parts` as multipart/form-data, streamed with backpressure. */
function postMultipart(url: string, parts: Part[]): Promise<{ status: number; body: string }> {
  const boundary = `----imgc${randomBytes(8).toString("hex")}`;
  return new Promise((resolvePost, reject) => {
    const req = http.request(url, {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolvePost({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    // The gateway may answer (413) and close before the body is sent: that answer is what is tested.
    req.on("error", (err) => (req.writableEnded ? reject(err) : undefined));
    const pieces = (function* () {
      for (const part of parts) {
        yield Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${part.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        );
        for (let sent = 0; sent < part.total; sent += part.block.length) {
          yield part.total - sent >= part.block.length ? part.block : part.block.subarray(0, part.total - sent);
        }
        yield Buffer.from("\r\n");
      }
      yield Buffer.from(`--${boundary}--\r\n`);
    })();
    const pump = () => {
      for (let next = pieces.next(); !next.done; next = pieces.next()) {
        if (req.destroyed) return;
        if (!req.write(next.value)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

const digest = (block: Buffer, total: number) => {
  const hash = createHash("sha256");
  for (let sent = 0; sent < total; sent += block.length) {
    hash.update(total - sent >= block.length ? block : block.subarray(0, total - sent));
  }
  return hash.digest("hex");
};

test("POST /v1/uploads stores every file of a multipart form, a 40 MiB one with flat memory", async () => {
  const small = randomBytes(3000);
  const block = randomBytes(64 * 1024);
  const big = 40 * MiB;
  // Warm up the multipart path first, so the baseline is the steady state.
  expect((await postMultipart(`${base}/v1/uploads`, [{ filename: "w.jpg", block: small, total: 10 }])).status).toBe(
    200,
  );
  const { result, growth } = await peakGrowth(() =>
    postMultipart(`${base}/v1/uploads`, [
      { filename: "small.png", block: small, total: small.length },
      { filename: "big photo.jpg", block, total: big },
      { filename: "small.png", block: small, total: 1234 },
    ]),
  );
  console.log(`multipart POST of 40 MiB: peak live memory growth ${(growth / MiB).toFixed(1)} MiB`);
  expect(result.status, result.body).toBe(200);
  const { uploads } = JSON.parse(result.body) as { uploads: { key: string; name: string; size: number }[] };
  expect(uploads.map(({ name, size }) => [name, size])).toEqual([
    ["small.png", small.length],
    ["big photo.jpg", big],
    ["small.png", 1234],
  ]);
  expect(new Set(uploads.map((u) => u.key)).size).toBe(3);
  for (const upload of uploads) expect(upload.key).toMatch(/^uploads\/default\/[^/]+\/[\w.-]+$/);
  expect((await storage.getBuffer(uploads[0]?.key as string)).equals(small)).toBe(true);
  expect((await storage.getBuffer(uploads[2]?.key as string)).equals(small.subarray(0, 1234))).toBe(true);
  const stored = createHash("sha256");
  for await (const chunk of await storage.getStream(uploads[1]?.key as string)) stored.update(chunk as Buffer);
  expect(stored.digest("hex")).toBe(digest(block, big));
  expect(growth / MiB).toBeLessThan(16);
}, 120_000);

test("POST /v1/uploads refuses a file over the limit (413), too many files, and bodies that are not forms", async () => {
  const spoolDir = await mkdtemp(join(tmpdir(), "imgc-spool-"));
  const small = await buildTestGateway({ storage, maxUploadBytes: 1000, spoolDir });
  const url = `${await small.http.listen({ host: "127.0.0.1", port: 0 })}/v1/uploads`;
  try {
    const block = randomBytes(512);
    const tooLarge = await postMultipart(url, [
      { filename: "ok.jpg", block, total: 1000 },
      { filename: "huge.jpg", block, total: 5 * MiB },
    ]);
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toEqual({
      code: "resource_exhausted",
      message: '"huge.jpg" is larger than the upload limit of 1000 bytes (1 KB)',
    });

    const many = await postMultipart(
      url,
      Array.from({ length: MAX_FILES_PER_REQUEST + 1 }, (_, i) => ({ filename: `${i}.png`, block, total: 10 })),
    );
    expect([many.status, JSON.parse(many.body).code]).toEqual([413, "resource_exhausted"]);

    const empty = await postMultipart(url, [{ filename: "empty.png", block, total: 0 }]);
    expect([empty.status, JSON.parse(empty.body)]).toEqual([
      400,
      { code: "invalid_argument", message: '"empty.png" is empty' },
    ]);

    const plain = await fetch(url, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
    expect([plain.status, ((await plain.json()) as { code: string }).code]).toEqual([415, "unsupported_media_type"]);
    // Every spooled part was deleted, refused ones included.
    expect(await readdir(spoolDir)).toEqual([]);
  } finally {
    await small.http.close();
    await small.grpc.close();
    await rm(spoolDir, { recursive: true, force: true });
  }
}, 60_000);
