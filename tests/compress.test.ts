/**
 * Compression end to end through real processes: the gateway takes the job, the coordinator chunks it onto
 * JetStream, two workers compress from S3 to S3. One worker slot each, so that two chunks waiting means two
 * workers busy.
 */
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, ImageFormat, type ItemResult, ItemState, JobState } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, test } from "vitest";
import { MAX_THUMB_DISTANCE, thumbDistance, thumbnail } from "./faults/audit.js";
import {
  allResults,
  corpusFiles,
  generateImages,
  listKeys,
  type Uploaded,
  uploadFixtures,
  useCluster,
  waitForJob,
} from "./harness/index.js";

const cluster = useCluster({ workers: 2, workerEnv: { IMGC_WORKER_SLOTS: "1" } });

const uploadSource = (key: string) => ({ kind: { case: "uploadKey" as const, value: key } });

function sourceOf(result: ItemResult, uploads: readonly Uploaded[]): Uploaded {
  const upload = uploads.find((candidate) => candidate.key === result.sourceKey);
  if (!upload) throw new Error(`item ${result.itemId} names an unknown source ${result.sourceKey}`);
  return upload;
}

/** Reads the output and checks what every finished item promises: it exists, is whole, and decodes. */
async function expectOutputFor(result: ItemResult, source: Uploaded, jobId: string): Promise<Buffer> {
  const output = await cluster().storage.getBuffer(result.outputKey);
  expect(output.length, `${source.name}: output_bytes`).toBe(Number(result.outputBytes));
  expect(result.outputKey.startsWith(`outputs/default/${jobId}/${result.itemId}.`), result.outputKey).toBe(true);
  const { info } = await sharp(output).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height], `${source.name}: decoded size`).toEqual([result.width, result.height]);
  return output;
}

describe("compression through the cluster", () => {
  test("every corpus photo comes out as a smaller WebP (or its original), and both workers took part", async () => {
    const c = cluster();
    const photos = corpusFiles("photos");
    expect(photos.length).toBeGreaterThanOrEqual(10);
    const { uploads } = await uploadFixtures(c.storage, photos);
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((upload) => uploadSource(upload.key)),
      options: { format: ImageFormat.WEBP },
      label: "e2e photos",
    });
    if (!job) throw new Error("SubmitJob returned no job");
    expect(job.counts?.total).toBe(photos.length);

    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 170_000 });
    expect(JobState[finished.state]).toBe("COMPLETED");
    const results = await allResults(c.jobs, job.id);
    expect(results).toHaveLength(photos.length);
    expect(new Set(results.map((r) => r.sourceKey))).toEqual(new Set(uploads.map((u) => u.key)));

    for (const result of results) {
      const source = sourceOf(result, uploads);
      const output = await expectOutputFor(result, source, job.id);
      if (result.state === ItemState.DONE) {
        expect(ImageFormat[result.format], source.name).toBe("WEBP");
        expect((await sharp(output).metadata()).format, source.name).toBe("webp");
        expect(output.length, `${source.name} is smaller than its source`).toBeLessThan(source.size);
        // A rendering of this photo, not merely of its size.
        const distance = thumbDistance(await thumbnail(output), await thumbnail(source.body));
        expect(distance, `${source.name}: output against its source`).toBeLessThan(MAX_THUMB_DISTANCE);
      } else {
        expect(ItemState[result.state], source.name).toBe("KEPT_ORIGINAL");
        expect(result.keptReason, source.name).not.toBe("");
        // The original under the default strip policy: its metadata stripped at the container level, the
        // pixels untouched.
        expect(output.length, `${source.name}: the kept original is no larger`).toBeLessThanOrEqual(source.size);
        const [kept, original] = await Promise.all([
          sharp(output).raw().toBuffer(),
          sharp(source.body).raw().toBuffer(),
        ]);
        expect(kept.equals(original), `${source.name}: the kept original has the original's pixels`).toBe(true);
      }
    }
    // Photos are what WebP is for: most come out compressed, not kept as they were.
    const compressed = results.filter((r) => r.state === ItemState.DONE);
    expect(compressed.length, "photos compressed").toBeGreaterThan(photos.length / 2);

    // The job is several chunks (at least four per live slot): while the first runs the rest wait on the queue,
    // and the idle worker must take some.
    expect(finished.chunkCount).toBeGreaterThanOrEqual(2 * c.workers.length);
    const workers = new Set(results.map((r) => r.workerId));
    expect([...workers].sort()).toEqual(["worker-1", "worker-2"]);
  });

  test("bad inputs fail one by one with stable codes while the rest of the job succeeds", async () => {
    const c = cluster();
    const expected: Record<string, ErrorCode> = {
      "corrupt-header.jpg": ErrorCode.CORRUPT_INPUT,
      "truncated.png": ErrorCode.CORRUPT_INPUT,
      "font-not-an-image.ttf": ErrorCode.UNSUPPORTED_FORMAT,
    };
    const bad = corpusFiles("bad");
    expect(bad.map((file) => path.basename(file)).sort()).toEqual(Object.keys(expected).sort());
    const good = corpusFiles("photos").filter((file) => /flowers|rocket|test-pattern/.test(file));
    expect(good).toHaveLength(3);
    // Interleaved, so bad items share chunks with good ones.
    const files = [good[0], bad[0], good[1], bad[1], good[2], bad[2]] as string[];
    const { uploads } = await uploadFixtures(c.storage, files);
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((upload) => uploadSource(upload.key)),
      options: { format: ImageFormat.WEBP },
    });
    if (!job) throw new Error("SubmitJob returned no job");

    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 120_000 });
    expect(JobState[finished.state]).toBe("COMPLETED_WITH_ERRORS");
    expect(finished.counts?.failed).toBe(3);
    const results = await allResults(c.jobs, job.id);
    expect(results).toHaveLength(6);
    for (const result of results) {
      const source = sourceOf(result, uploads);
      const code = expected[source.name];
      if (code !== undefined) {
        expect(ItemState[result.state], source.name).toBe("FAILED");
        expect(ErrorCode[result.errorCode], source.name).toBe(ErrorCode[code]);
        expect(result.errorMessage, source.name).not.toBe("");
      } else {
        expect(["DONE", "KEPT_ORIGINAL"], source.name).toContain(ItemState[result.state]);
        await expectOutputFor(result, source, job.id);
      }
    }

    // No bad input took a worker down.
    for (const worker of c.workers) expect(worker.running(), `${worker.name} is still running`).toBe(true);
    const { workers } = await c.cluster.listWorkers({});
    expect(workers.map((w) => w.id).sort()).toEqual(["worker-1", "worker-2"]);
  });

  test("200 small images spread over both workers: 200 results, exactly 200 outputs", async () => {
    const c = cluster();
    const images = await generateImages(200, { minSide: 64, maxSide: 256, seed: 7 });
    const { prefix, uploads } = await uploadFixtures(c.storage, images, { concurrency: 16 });
    const { job } = await c.jobs.submitJob({
      sources: [{ kind: { case: "s3Prefix", value: { bucket: "", prefix } } }],
      options: { format: ImageFormat.WEBP, target: { goal: { case: "quality", value: 75 } } },
    });
    if (!job) throw new Error("SubmitJob returned no job");

    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 170_000 });
    expect(JobState[finished.state]).toBe("COMPLETED");
    expect(finished.counts?.total).toBe(200);
    const results = await allResults(c.jobs, job.id);
    expect(results).toHaveLength(200);
    expect(new Set(results.map((r) => r.itemId)).size).toBe(200);
    expect(new Set(results.map((r) => r.sourceKey))).toEqual(new Set(uploads.map((u) => u.key)));
    for (const result of results) expect(["DONE", "KEPT_ORIGINAL"]).toContain(ItemState[result.state]);
    expect([...new Set(results.map((r) => r.workerId))].sort()).toEqual(["worker-1", "worker-2"]);

    const outputs = await listKeys(c.storage, `outputs/default/${job.id}/`);
    expect(outputs).toHaveLength(200);
    expect(outputs).toEqual(results.map((r) => r.outputKey).sort());
  });

  test("a max-bytes job with shrink_to_fit makes the 2725×2225 photo fit 50 KB by shrinking it", async () => {
    const c = cluster();
    const bike = corpusFiles("photos").filter((file) => file.endsWith("bike-2725x2225.jpg"));
    expect(bike).toHaveLength(1);
    const { uploads } = await uploadFixtures(c.storage, bike);
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((upload) => uploadSource(upload.key)),
      options: {
        format: ImageFormat.WEBP,
        target: { goal: { case: "maxBytes", value: 50_000n } },
        shrinkToFit: true,
      },
    });
    if (!job) throw new Error("SubmitJob returned no job");
    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 120_000 });
    expect(JobState[finished.state]).toBe("COMPLETED");
    const [result] = await allResults(c.jobs, job.id);
    if (!result) throw new Error("no result");
    expect(ItemState[result.state]).toBe("DONE");
    expect(Number(result.outputBytes)).toBeLessThanOrEqual(50_000);
    expect([result.shrunkToFit, result.shrunkFromWidth, result.shrunkFromHeight]).toEqual([true, 2725, 2225]);
    expect(result.width).toBeLessThan(2725);
    expect(Math.abs(result.height - (result.width * 2225) / 2725)).toBeLessThanOrEqual(1);
    expect(result.note).toBe(`Resized from 2725×2225 to ${result.width}×${result.height} to fit 50 KB`);
    await expectOutputFor(result, sourceOf(result, uploads), job.id);
  });

  test("shrink_to_fit without a max_bytes target is refused as invalid, naming the field", async () => {
    const error = await cluster()
      .jobs.submitJob({
        sources: [uploadSource("uploads/default/x/a.jpg")],
        options: { target: { goal: { case: "quality", value: 80 } }, shrinkToFit: true },
      })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConnectError);
    expect(Code[(error as ConnectError).code]).toBe("InvalidArgument");
    expect((error as ConnectError).rawMessage).toContain(
      "options.shrink_to_fit: expected a target.max_bytes goal but received target.quality",
    );
  });

  test("a job with no sources is refused as invalid", async () => {
    const error = await cluster()
      .jobs.submitJob({ sources: [] })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConnectError);
    expect(Code[(error as ConnectError).code]).toBe("InvalidArgument");
  });
});
