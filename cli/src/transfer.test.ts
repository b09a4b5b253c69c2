/**
 * Uploads stream from disk: a 50 MiB file goes up over real gRPC (HTTP/2) to a deliberately slow server,
 * and the CLI never reads far ahead of what the server has taken.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { JobService } from "@imgc/proto";
import { afterAll, expect, test } from "vitest";
import { uploadFile } from "./transfer.js";

const MiB = 1024 * 1024;
let dir: string | undefined;

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a 50 MiB upload is read from disk only as fast as the server takes it", async () => {
  dir = await mkdtemp(join(tmpdir(), "imgc-cli-upload-"));
  const path = join(dir, "big.bin");
  const expected = createHash("sha256");
  const file = createWriteStream(path);
  for (let i = 0; i < 50; i++) {
    const block = randomBytes(MiB);
    expected.update(block);
    if (!file.write(block)) await once(file, "drain");
  }
  file.end();
  await once(file, "finish");

  let taken = 0;
  let maxAhead = 0;
  const received = createHash("sha256");
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(JobService, {
          async uploadImage(requests) {
            for await (const message of requests) {
              if (message.part.case !== "chunk") continue;
              received.update(message.part.value);
              taken += message.part.value.length;
              // A slow consumer, as S3 on a busy disk would be.
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
            return { key: "uploads/default/x/big.bin", size: BigInt(taken) };
          },
        }),
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = new Http2SessionManager(base);
  try {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: base, sessionManager: session }));
    let read = 0;
    const result = await uploadFile(jobs, path, (bytes) => {
      read += bytes;
      maxAhead = Math.max(maxAhead, read - taken);
    });
    expect(result.size).toBe(50 * MiB);
    expect(received.digest("hex")).toBe(expected.digest("hex"));
    // Whole-file buffering would put 50 MiB ahead; HTTP/2 flow control keeps it to a few messages.
    expect(maxAhead).toBeLessThan(8 * MiB);
  } finally {
    session.abort();
    server.close();
  }
}, 60_000);
