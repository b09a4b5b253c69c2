import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, ManifestFormat, ManifestSchema } from "@imgc/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../net/ssrf-guard.js";
import { createMemoryStorage } from "../testing/memory-storage.js";
import { ManifestError } from "./manifest.js";
import { createUrlSources } from "./url-sources.js";

let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/a.jpg") res.end(Buffer.alloc(300, 1));
    else if (req.url === "/chunked.png") {
      res.write(Buffer.alloc(100, 2));
      res.end(Buffer.alloc(50, 3));
    } else if (req.url === "/list.json") res.end(JSON.stringify([`${base}/a.jpg`, { url: `${base}/chunked.png` }]));
    else if (req.url === "/big.jpg") res.end(Buffer.alloc(5000));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

function sources(allow: string[]) {
  const storage = createMemoryStorage();
  const port = Number(new URL(base).port);
  const guard = createGuardedFetch({ allow, allowedHosts: [], ports: [port], maxBytes: 1000, timeoutMs: 2_000 });
  return { storage, urls: createUrlSources({ guard, storage, tenant: "acme", jobId: "job1" }) };
}

describe("URL sources", () => {
  it("stores fetched images under uploads/<tenant>/<job>/ with their exact size", async () => {
    const { storage, urls } = sources(["127.0.0.1"]);
    const item = await urls.fetchImage(`${base}/chunked.png`, 3);
    expect(item).toEqual({
      bucket: storage.bucket,
      key: "uploads/acme/job1/000003-chunked.png",
      size: 150,
      missing: false,
    });
    expect((await storage.stat(item.key)).size).toBe(150);
  });

  it("fails the item, not the job, for a refused, missing or oversized URL", async () => {
    const { urls } = sources([]);
    const refused = await urls.fetchImage(`${base}/a.jpg`, 0);
    expect(refused).toMatchObject({ missing: true, key: `${base}/a.jpg`, failure: { code: ErrorCode.FETCH_REFUSED } });
    expect(refused.failure?.message).toMatch(/127\.0\.0\.1 is a loopback address/);
    const allowed = sources(["127.0.0.1"]).urls;
    expect((await allowed.fetchImage(`${base}/nope.jpg`, 0)).failure).toMatchObject({
      code: ErrorCode.SOURCE_NOT_FOUND,
      // Not "HTTP 404": what answered, and how, is not the caller's to learn.
      message: `could not fetch ${base}/nope.jpg`,
    });
    expect((await allowed.fetchImage(`${base}/big.jpg`, 0)).failure?.code).toBe(ErrorCode.FILE_TOO_LARGE);
  });

  it("reads a manifest from a URL behind the guard; a refused one is a ManifestError", async () => {
    const manifest = create(ManifestSchema, { content: { case: "url", value: `${base}/list.json` } });
    expect(await sources(["127.0.0.1"]).urls.manifestUrls(manifest)).toEqual([`${base}/a.jpg`, `${base}/chunked.png`]);
    const refused = sources([]).urls.manifestUrls(manifest);
    await expect(refused).rejects.toThrow(ManifestError);
    await expect(refused).rejects.toThrow(`refused ${base}/list.json: 127.0.0.1 is a loopback address`);
    const inline = create(ManifestSchema, {
      content: { case: "inline", value: `url\n${base}/a.jpg\n` },
      format: ManifestFormat.CSV,
    });
    expect(await sources([]).urls.manifestUrls(inline)).toEqual([`${base}/a.jpg`]);
  });
});
