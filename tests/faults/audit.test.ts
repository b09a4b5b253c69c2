/**
 * The audit itself, on fabricated jobs: it must pass an honest one and catch each way a job can look whole
 * without being so. No cluster here: the job service and the store are the audit's own inputs, made by hand.
 */
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Storage } from "@imgc/common";
import { type ItemResult, ItemResultSchema, ItemState, JobSchema, type JobService, JobState } from "@imgc/proto";
import sharp from "sharp";
import { beforeAll, describe, expect, test } from "vitest";
import { generateImages, type Uploaded } from "../harness/index.js";
import { type AuditBatch, auditJob } from "./audit.js";

const JOB = "job-1";
const TENANT = "acme";

interface Fabricated {
  results: ItemResult[];
  objects: Map<string, Buffer>;
}

let batch: AuditBatch;
let outputs: Buffer[];

beforeAll(async () => {
  // Same-sized images: a swap between two of them keeps every size right.
  const images = await generateImages(6, { minSide: 48, maxSide: 48, seed: 3 });
  const uploads: Uploaded[] = images.map((image) => ({
    key: `uploads/${TENANT}/batch/${image.name}`,
    name: image.name,
    size: image.body.length,
    body: image.body,
  }));
  batch = { uploads, sizes: new Map(uploads.map((u) => [u.key, { width: 48, height: 48 }])) };
  outputs = await Promise.all(images.map((image) => sharp(image.body).webp({ quality: 75 }).toBuffer()));
});

/** An honest job: every item DONE, its output under its own key. */
function honest(): Fabricated {
  const objects = new Map<string, Buffer>();
  const results = batch.uploads.map((upload, at) => {
    const itemId = String(at).padStart(6, "0");
    const outputKey = `outputs/${TENANT}/${JOB}/${itemId}.webp`;
    const body = outputs[at] as Buffer;
    objects.set(outputKey, body);
    return create(ItemResultSchema, {
      itemId,
      sourceKey: upload.key,
      state: ItemState.DONE,
      outputKey,
      outputBytes: BigInt(body.length),
      width: 48,
      height: 48,
    });
  });
  return { results, objects };
}

async function audit(job: Fabricated): Promise<string[]> {
  const done = job.results.filter((r) => r.state === ItemState.DONE).length;
  const kept = job.results.filter((r) => r.state === ItemState.KEPT_ORIGINAL).length;
  const jobs = {
    getJob: async () => ({
      job: create(JobSchema, {
        id: JOB,
        tenant: TENANT,
        state: JobState.COMPLETED,
        counts: { total: job.results.length, done, keptOriginal: kept },
      }),
    }),
    getResults: async () => ({ results: job.results, nextPageToken: "" }),
  } as unknown as Client<typeof JobService>;
  const storage = {
    async *list(prefix: string) {
      for (const [key, body] of job.objects) if (key.startsWith(prefix)) yield { key, size: body.length };
    },
    async getBuffer(key: string) {
      const body = job.objects.get(key);
      if (!body) throw new Error(`no object ${key}`);
      return body;
    },
  } as unknown as Storage;
  return (await auditJob({ jobs, storage }, JOB, batch)).problems;
}

describe("the nothing-lost audit", () => {
  test("passes an honest job", async () => {
    expect(await audit(honest())).toEqual([]);
  });

  test("passes a job where one image was uploaded twice (its two outputs look alike, rightly)", async () => {
    const twice: AuditBatch = {
      uploads: batch.uploads.map((u, at) => (at === 1 ? { ...u, body: batch.uploads[0]?.body as Buffer } : u)),
      sizes: batch.sizes,
    };
    const job = honest();
    const second = job.results[1] as ItemResult;
    job.objects.set(second.outputKey, outputs[0] as Buffer);
    second.outputBytes = BigInt(outputs[0]?.length ?? 0);
    const saved = batch;
    batch = twice;
    try {
      expect(await audit(job)).toEqual([]);
    } finally {
      batch = saved;
    }
  });

  test("catches two successful items that share one output key and one object", async () => {
    const job = honest();
    const [first, second] = job.results as [ItemResult, ItemResult];
    job.objects.delete(second.outputKey);
    second.outputKey = first.outputKey;
    second.outputBytes = first.outputBytes;
    const problems = await audit(job);
    expect(problems).toContainEqual(`${first.outputKey} is the output of 2 items: 000000, 000001`);
  });

  test("catches outputs swapped between two images of the same size", async () => {
    const job = honest();
    const [first, second] = job.results as [ItemResult, ItemResult];
    const [a, b] = [job.objects.get(first.outputKey) as Buffer, job.objects.get(second.outputKey) as Buffer];
    job.objects.set(first.outputKey, b);
    job.objects.set(second.outputKey, a);
    [first.outputBytes, second.outputBytes] = [BigInt(b.length), BigInt(a.length)];
    const problems = await audit(job);
    expect(problems.length).toBeGreaterThanOrEqual(2);
    for (const result of [first, second]) {
      expect(problems.some((p) => p.startsWith(`${result.outputKey} `) && /look/.test(p))).toBe(true);
    }
  });

  test("catches an output that is another item's picture, unlike anything of its source", async () => {
    const job = honest();
    const first = job.results[0] as ItemResult;
    const flat = await sharp({ create: { width: 48, height: 48, channels: 3, background: "#00ff00" } })
      .webp()
      .toBuffer();
    job.objects.set(first.outputKey, flat);
    first.outputBytes = BigInt(flat.length);
    expect(await audit(job)).toEqual([expect.stringMatching(/^outputs\/acme\/job-1\/000000\.webp does not look like/)]);
  });

  test("catches a kept original that is neither the original's bytes nor its pixels", async () => {
    const job = honest();
    const first = job.results[0] as ItemResult;
    first.state = ItemState.KEPT_ORIGINAL;
    expect(await audit(job)).toEqual([
      `${first.outputKey} is KEPT_ORIGINAL but is neither its source's bytes nor its pixels`,
    ]);
    job.objects.set(first.outputKey, batch.uploads[0]?.body as Buffer);
    first.outputBytes = BigInt(batch.uploads[0]?.size ?? 0);
    expect(await audit(job)).toEqual([]);
  });

  test("catches an output that is not under its own item's key", async () => {
    const job = honest();
    const first = job.results[0] as ItemResult;
    const body = job.objects.get(first.outputKey) as Buffer;
    job.objects.delete(first.outputKey);
    first.outputKey = `outputs/${TENANT}/${JOB}/elsewhere.webp`;
    job.objects.set(first.outputKey, body);
    expect(await audit(job)).toEqual([`outputs not under their item's key: ${first.outputKey}`]);
  });
});
