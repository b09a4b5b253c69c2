import { Readable } from "node:stream";
import { StorageError } from "@imgc/common";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type S3Handle, startS3, storageFor } from "./harness/index.js";

// common/src/storage.ts against the S3 server the project runs locally and in every integration test.
let s3: S3Handle;
let storage: ReturnType<typeof storageFor>;

beforeAll(async () => {
  s3 = await startS3();
  storage = storageFor(s3);
  await storage.ensureBucket();
});
afterAll(() => s3?.stop());

test("lists a prefix of more than 1000 objects (the server's page size) completely", async () => {
  const count = 1234;
  const keys = Array.from({ length: count }, (_, i) => `list-test/batch/${String(i).padStart(5, "0")}.bin`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map((key) => storage.putBuffer(key, Buffer.from(key), "application/octet-stream")),
    );
  }
  const listed: string[] = [];
  for await (const object of storage.list("list-test/")) listed.push(object.key);
  expect(listed.sort()).toEqual(keys);
});

test("lists keys exactly, whatever characters they hold (+, %, &, <, spaces, accents)", async () => {
  const keys = ["a+b.jpg", "50% off.png", "x&y <z>.gif", "café/ünïcode.webp", "plus+and space+.jpg", "%2B.jpg"].map(
    (name) => `odd-keys/${name}`,
  );
  await Promise.all(keys.map((key) => storage.putBuffer(key, Buffer.from(key), "application/octet-stream")));
  const listed: { key: string; size: number }[] = [];
  for await (const object of storage.list("odd-keys/")) listed.push({ key: object.key, size: object.size });
  expect(listed.sort((a, b) => a.key.localeCompare(b.key))).toEqual(
    keys.map((key) => ({ key, size: Buffer.byteLength(key) })).sort((a, b) => a.key.localeCompare(b.key)),
  );
  // Each listed key names its object.
  for (const { key } of listed) expect((await storage.getBuffer(key)).toString()).toBe(key);
});

test("streams an upload of a known size and reads it back byte for byte", async () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  await storage.putStream(
    "stream-test/blob",
    Readable.from([body.subarray(0, 1_000_000), body.subarray(1_000_000)]),
    body.length,
    "application/octet-stream",
  );
  expect((await storage.getBuffer("stream-test/blob")).equals(body)).toBe(true);
});

test("a read pinned to an ETag refuses the object once it is written again (a presigned slot PUT twice)", async () => {
  const key = "etag-test/slot.jpg";
  await storage.putBuffer(key, Buffer.from("first bytes"), "image/jpeg");
  const { etag } = await storage.stat(key);
  expect(etag).toMatch(/^[0-9a-f]{32}$/);
  for await (const listed of storage.list("etag-test/")) expect(listed.etag).toBe(etag);
  expect((await storage.getBuffer(key, undefined, undefined, etag)).toString()).toBe("first bytes");
  await storage.putBuffer(key, Buffer.from("other bytes"), "image/jpeg");
  const changed = await storage.getBuffer(key, undefined, undefined, etag).catch((err: unknown) => err);
  expect(StorageError.isChanged(changed)).toBe(true);
  // Unpinned, and pinned to the new ETag, it reads.
  expect((await storage.getBuffer(key)).toString()).toBe("other bytes");
  expect((await storage.getBuffer(key, undefined, undefined, (await storage.stat(key)).etag)).toString()).toBe(
    "other bytes",
  );
});

test("a missing object is not-found; a stopped server is unavailable", async () => {
  const missing = await storage.stat("nope/nothing").catch((err: unknown) => err);
  expect(StorageError.isNotFound(missing)).toBe(true);
  await s3.stop();
  try {
    const down = await storage.stat("nope/nothing").catch((err: unknown) => err);
    expect(down).toBeInstanceOf(StorageError);
    expect((down as StorageError).kind).toBe("unavailable");
  } finally {
    await s3.restart();
  }
});
