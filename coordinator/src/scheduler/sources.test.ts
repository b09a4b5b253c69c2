import { create } from "@bufbuild/protobuf";
import { ErrorCode, JobSchema, SourceSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { testSettings } from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";
import { buildChunks } from "./chunking.js";
import { expandSources, SubmitCancelledError } from "./sources.js";
import type { UrlSources } from "./url-sources.js";

const url = (i: number) => create(SourceSchema, { kind: { case: "url", value: `https://img.example/${i}.jpg` } });
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]);
const upload = (key: string) => create(SourceSchema, { kind: { case: "uploadKey", value: key } });

describe("expandSources", () => {
  it("stops fetching a job's URLs once its caller has gone", async () => {
    const storage = createMemoryStorage();
    const controller = new AbortController();
    const fetched: string[] = [];
    const urls: UrlSources = {
      manifestUrls: async () => [],
      async fetchImage(address, position) {
        fetched.push(address);
        // The caller gives up while the first fetches run.
        if (fetched.length === 3) controller.abort();
        return { bucket: storage.bucket, key: `uploads/acme/job/${position}.jpg`, size: 1, missing: false };
      },
    };
    const sources = Array.from({ length: 3_000 }, (_, i) => url(i));
    await expect(expandSources(sources, storage, 10_000, urls, controller.signal)).rejects.toThrow(
      SubmitCancelledError,
    );
    // The fetches already under way (at most the fetch concurrency) finish; no new one starts.
    expect(fetched.length).toBeLessThanOrEqual(3 + 8);
  });

  it("fails an upload whose stored size is not the size its upload id declares, before it becomes a source", async () => {
    const storage = createMemoryStorage();
    storage.put("uploads/acme/abc.10/big.jpg", 1024 * 1024);
    // An upload is also judged by its first bytes: these start like a JPEG.
    storage.objects.set("imgc/uploads/acme/def.5/ok.jpg", JPEG_START);
    const items = await expandSources(
      [upload("uploads/acme/abc.10/big.jpg"), upload("uploads/acme/def.5/ok.jpg")],
      storage,
      10,
    );
    expect(items[0]).toMatchObject({
      missing: true,
      failure: {
        code: ErrorCode.FILE_TOO_LARGE,
        message: "the upload is 1048576 bytes, not the 10 bytes its upload slot declared",
      },
    });
    expect(items[1]).toMatchObject({ missing: false, size: 5 });
  });

  it("fails an upload whose first bytes are no image the cluster reads, whatever its name says", async () => {
    const storage = createMemoryStorage();
    const text = Buffer.from("<html>not an image</html>");
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from("ftypheicmif1heic"), Buffer.alloc(8)]);
    storage.objects.set(`imgc/uploads/acme/a.${text.length}/photo.jpg`, text);
    storage.objects.set(`imgc/uploads/acme/b.${heic.length}/photo.heic`, heic);
    storage.objects.set("imgc/uploads/acme/c.5/fine.jpg", JPEG_START);
    // Keys without a declared size (written by an internal service, not through a slot) are left to the worker.
    storage.objects.set("imgc/uploads/acme/batch/notes.jpg", text);
    const items = await expandSources(
      [
        upload(`uploads/acme/a.${text.length}/photo.jpg`),
        upload(`uploads/acme/b.${heic.length}/photo.heic`),
        upload("uploads/acme/c.5/fine.jpg"),
        upload("uploads/acme/batch/notes.jpg"),
      ],
      storage,
      10,
    );
    expect(items.map((item) => [item.missing, item.failure])).toEqual([
      [
        true,
        {
          code: ErrorCode.UNSUPPORTED_FORMAT,
          message:
            "the upload is not an image the cluster reads: its first bytes are none of JPEG, PNG, WebP, AVIF, GIF, TIFF or SVG",
        },
      ],
      [
        true,
        {
          code: ErrorCode.UNSUPPORTED_FORMAT,
          message: "the upload is a HEIC/HEIF image, which the cluster cannot read (only AVIF in that container)",
        },
      ],
      [false, undefined],
      [false, undefined],
    ]);
  });

  it("pins each upload slot's object by its ETag, and the chunk carries it to the worker; other keys are not pinned", async () => {
    const storage = createMemoryStorage();
    storage.objects.set("imgc/uploads/acme/abc.5/a.jpg", JPEG_START);
    storage.put("uploads/acme/folder/b.jpg", 4);
    const items = await expandSources(
      [
        upload("uploads/acme/abc.5/a.jpg"),
        create(SourceSchema, { kind: { case: "s3Prefix", value: { prefix: "uploads/acme/folder/" } } }),
      ],
      storage,
      10,
    );
    const pinned = (await storage.stat("uploads/acme/abc.5/a.jpg")).etag;
    expect(pinned).toMatch(/^[0-9a-f]{32}$/);
    expect(items.map((item) => item.etag)).toEqual([pinned, undefined]);
    const chunks = buildChunks(create(JobSchema, { id: "j", tenant: "acme" }), items, testSettings.chunk, "imgc");
    expect(chunks.flatMap((chunk) => chunk.items.map((item) => item.sourceEtag))).toEqual([pinned, ""]);
  });
});
