/**
 * An upload streams: 50 MiB go through `PUT /v1/uploads/:name` into the project's real S3 server (its own
 * process) while the gateway's memory stays flat, and the stored object is byte for byte the upload.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createLogger, createStorage, type Storage } from "@imgc/common";
import { JobService, type UploadImageRequestSchema } from "@imgc/proto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { build, type Gateway } from "../server.js";

const log = createLogger("gateway-test", "silent");
const MiB = 1024 * 1024;
const UPLOAD_BYTES = 50 * MiB;
const repoRoot = resolve(import.meta.dirname, "../../..");

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let s3: ChildProcess | undefined;
let dataDir: string;
let storage: Storage;
let gateway: Gateway;
let base: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imgc-gateway-s3-"));
  s3 = spawn(process.execPath, ["--import", "tsx", "scripts/s3-server.ts", "--port", "0", "--dir", dataDir], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: s3.stdout as NodeJS.ReadableStream });
  let url: string | undefined;
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { msg?: string; url?: string };
    if (parsed.msg === "ready") {
      url = parsed.url;
      break;
    }
  }
  if (!url) throw new Error("the S3 server did not start");
  storage = createStorage({
    s3Endpoint: url,
    s3PublicEndpoint: "",
    s3AccessKey: "S3RVER",
    s3SecretKey: "S3RVER",
    s3Region: "us-east-1",
    s3Bucket: "imgc",
  });
  gateway = await build({
    log,
    // Uploads never reach the coordinator.
    coordinator: createClient(
      JobService,
      createRouterTransport(() => {}),
    ),
    storage,
    checks: {},
    apiKeys: new Map(),
    maxUploadBytes: 64 * MiB,
    corsOrigins: [],
  });
  base = await gateway.http.listen({ host: "127.0.0.1", port: 0 });
}, 60_000);

afterAll(async () => {
  await gateway?.http.close();
  await gateway?.grpc.close();
  if (s3 && s3.exitCode === null) {
    s3.kill("SIGTERM");
    await once(s3, "exit");
  }
  await rm(dataDir, { recursive: true, force: true });
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

  // Live memory only: collect first, so garbage socket buffers (V8 lets up to 64 MiB of them pile up before
  // it collects) do not count, while anything the gateway still holds does.
  const memory = () => {
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
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
