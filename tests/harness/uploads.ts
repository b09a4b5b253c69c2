/** Fixtures straight into S3, where SubmitJob's upload_key sources point. */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { keys, pool, type Storage } from "@imgc/common";
import { contentTypeOf, DEFAULT_TENANT } from "@imgc/proto";
import type { Fixture } from "../../scripts/lib/generated-images.js";

export type { Fixture };

export interface UploadOptions {
  /** The tenant whose uploads/ folder gets the files; the gateway's unauthenticated tenant is "default". */
  tenant?: string;
  /** Uploads at once. */
  concurrency?: number;
}

export interface Uploaded {
  key: string;
  name: string;
  size: number;
  body: Buffer;
}

/**
 * Puts each file (a path, or a name and bytes) at uploads/<tenant>/<batch>/<name>, the batch being one
 * random upload id for the call, so `prefix` lists exactly these files. Keys come back in input order.
 */
export async function uploadFixtures(
  storage: Storage,
  files: readonly (string | Fixture)[],
  options: UploadOptions = {},
): Promise<{ prefix: string; uploads: Uploaded[] }> {
  const tenant = options.tenant ?? DEFAULT_TENANT;
  const batch = randomBytes(9).toString("base64url");
  const prefix = `uploads/${tenant}/${batch}/`;
  const uploads: Uploaded[] = new Array(files.length);
  await pool(files, options.concurrency ?? 8, async (file, index) => {
    const fixture = typeof file === "string" ? { name: path.basename(file), body: await readFile(file) } : file;
    const key = keys.upload(tenant, batch, fixture.name);
    await storage.putBuffer(key, fixture.body, contentTypeOf(fixture.name));
    uploads[index] = { key, name: fixture.name, size: fixture.body.length, body: fixture.body };
  });
  return { prefix, uploads };
}

/** Every object key under a prefix. */
export async function listKeys(storage: Storage, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list(prefix)) found.push(object.key);
  return found.sort();
}
