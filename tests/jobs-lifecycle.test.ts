/**
 * A job's life after it ended, through the real gateway: RetryJob runs a broken image again with new options
 * (and a named item, whose new output shows the new options), DeleteJob removes exactly the job's objects and
 * records, and retention deletes an expired job by itself. Retention days last 3 s here
 * (IMGC_RETENTION_DAY_MS), swept every 200 ms; the default retention is 0 (forever), so only the job that asks
 * for one expires.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorCode, ImageFormat, ItemState, JobState } from "@imgc/proto";
import { expect, test } from "vitest";
import { childEnv, repoRoot } from "../scripts/lib/local-stack.js";
import {
  allResults,
  codeOf,
  corpusFiles,
  generateImages,
  listKeys,
  uploadFixtures,
  useCluster,
  waitForJob,
} from "./harness/index.js";

const run = promisify(execFile);

const DAY_MS = 3_000;
const cluster = useCluster({
  workers: 1,
  env: { IMGC_RETENTION_DAYS: "0", IMGC_RETENTION_DAY_MS: String(DAY_MS), IMGC_RETENTION_SWEEP_MS: "200" },
});

const images = await generateImages(2, { minSide: 160, maxSide: 240, seed: 13 });
const broken = corpusFiles("bad").find((file) => file.endsWith("corrupt-header.jpg")) ?? "";
const sourcesOf = (keys: readonly string[]) =>
  keys.map((key) => ({ kind: { case: "uploadKey" as const, value: key } }));

test("retries a broken image with new options, deletes a job's objects and nothing else", async () => {
  const c = cluster();
  const { uploads, prefix } = await uploadFixtures(c.storage, [
    ...images,
    { name: "broken.jpg", body: readFileSync(broken) },
  ]);
  const { job } = await c.jobs.submitJob({
    sources: sourcesOf(uploads.map((u) => u.key)),
    options: { format: ImageFormat.WEBP, target: { goal: { case: "quality", value: 70 } } },
  });
  const ended = await waitForJob(c.jobs, job?.id ?? "", { timeoutMs: 60_000 });
  expect(ended.state).toBe(JobState.COMPLETED_WITH_ERRORS);
  expect(ended.expiresAt).toBeUndefined(); // the default retention here is forever

  // The failed item again, as PNG: the same upload, a new job linked to the old one.
  const retry = await c.jobs.retryJob({ jobId: ended.id, options: { format: ImageFormat.PNG } });
  expect(retry.created).toBe(true);
  expect(retry.job?.retryOf).toBe(ended.id);
  const retried = await waitForJob(c.jobs, retry.job?.id ?? "", { timeoutMs: 60_000 });
  const [again] = await allResults(c.jobs, retried.id);
  expect(again?.sourceKey).toBe(uploads[2]?.key);
  expect(again?.state).toBe(ItemState.FAILED);
  expect(again?.errorCode).toBe(ErrorCode.CORRUPT_INPUT);
  // The same request is the same retry.
  const same = await c.jobs.retryJob({ jobId: ended.id, options: { format: ImageFormat.PNG } });
  expect([same.created, same.job?.id]).toEqual([false, retried.id]);
  // A named item with new options, from the CLI: it really runs with them.
  const cli = await run(
    process.execPath,
    [
      "--import",
      "tsx",
      "cli/src/main.ts",
      "retry",
      ended.id,
      "--items",
      "000000",
      "--format",
      "png",
      "--wait",
      "--json",
    ],
    { cwd: repoRoot, env: childEnv({ IMGC_URL: c.addresses.gatewayGrpc }), timeout: 120_000 },
  );
  const png = JSON.parse(cli.stdout) as { job?: { id: string; retryOf: string; state: string }; created: boolean };
  expect(png.created).toBe(true);
  expect(png.job?.retryOf).toBe(ended.id);
  expect(png.job?.state).toBe("JOB_STATE_COMPLETED");
  const [pngResult] = await allResults(c.jobs, png.job?.id ?? "");
  expect(pngResult?.state).toBe(ItemState.DONE);
  expect(pngResult?.outputKey).toMatch(new RegExp(`^outputs/default/${png.job?.id}/000000\\.png$`));
  // A job still running cannot be retried.
  const running = await c.jobs.submitJob({ sources: sourcesOf([uploads[0]?.key ?? ""]) });
  expect(await codeOf(c.jobs.retryJob({ jobId: running.job?.id ?? "" }))).toBe(Code.FailedPrecondition);
  await waitForJob(c.jobs, running.job?.id ?? "", { timeoutMs: 60_000 });

  // Another tenant's objects sit beside the job's.
  await c.storage.putBuffer("uploads/acme/keep/1.jpg", images[0]?.body ?? Buffer.alloc(1), "image/jpeg");
  await c.storage.putBuffer(`outputs/acme/${ended.id}/000000.webp`, Buffer.alloc(10), "image/webp");
  expect(await listKeys(c.storage, `outputs/default/${ended.id}/`)).toHaveLength(2);
  expect(await listKeys(c.storage, `reports/default/${ended.id}.`)).toHaveLength(2);

  const { objectsDeleted } = await c.jobs.deleteJob({ jobId: ended.id });
  expect(objectsDeleted).toBe(7); // two outputs, two reports, three uploads
  expect(await listKeys(c.storage, `outputs/default/${ended.id}/`)).toEqual([]);
  expect(await listKeys(c.storage, `reports/default/${ended.id}.`)).toEqual([]);
  expect(await listKeys(c.storage, prefix)).toEqual([]);
  expect(await codeOf(c.jobs.getJob({ jobId: ended.id }))).toBe(Code.NotFound);
  expect((await c.jobs.listJobs({})).jobs.map((j) => j.id)).not.toContain(ended.id);
  // The other jobs' outputs and the other tenant's objects are untouched.
  expect(await listKeys(c.storage, `outputs/default/${png.job?.id}/`)).toEqual([pngResult?.outputKey]);
  expect(await listKeys(c.storage, `reports/default/${retried.id}.`)).toHaveLength(2);
  expect(await listKeys(c.storage, "uploads/acme/keep/")).toEqual(["uploads/acme/keep/1.jpg"]);
  expect(await listKeys(c.storage, `outputs/acme/${ended.id}/`)).toEqual([`outputs/acme/${ended.id}/000000.webp`]);
  expect(await codeOf(c.jobs.deleteJob({ jobId: ended.id }))).toBe(Code.NotFound);

  // imgc delete: the retry job goes too, and says how many objects went (its report: it made no output).
  const deleted = await run(process.execPath, ["--import", "tsx", "cli/src/main.ts", "delete", retried.id], {
    cwd: repoRoot,
    env: childEnv({ IMGC_URL: c.addresses.gatewayGrpc }),
  });
  expect(deleted.stdout).toBe(`deleted job ${retried.id} and 2 objects\n`);
  expect(await codeOf(c.jobs.getJob({ jobId: retried.id }))).toBe(Code.NotFound);
});

test("a job with a retention is deleted by itself once it expires", async () => {
  const c = cluster();
  const { uploads, prefix } = await uploadFixtures(c.storage, images);
  const { job } = await c.jobs.submitJob({ sources: sourcesOf(uploads.map((u) => u.key)), retentionDays: 1 });
  const ended = await waitForJob(c.jobs, job?.id ?? "", { timeoutMs: 60_000 });
  expect(ended.state).toBe(JobState.COMPLETED);
  const finished = ended.finishedAt ? timestampMs(ended.finishedAt) : 0;
  expect(ended.expiresAt && timestampMs(ended.expiresAt) - finished).toBe(DAY_MS);
  expect(await listKeys(c.storage, `outputs/default/${ended.id}/`)).toHaveLength(2);

  const deadline = Date.now() + DAY_MS + 10_000;
  while ((await codeOf(c.jobs.getJob({ jobId: ended.id }))) !== Code.NotFound) {
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(Date.now()).toBeGreaterThanOrEqual(finished + DAY_MS);
  expect(await listKeys(c.storage, `outputs/default/${ended.id}/`)).toEqual([]);
  expect(await listKeys(c.storage, `reports/default/${ended.id}.`)).toEqual([]);
  expect(await listKeys(c.storage, prefix)).toEqual([]);
  // The coordinator said why the store kept no lifecycle rule (s3rver has none), and went on.
  expect(c.coordinator.logs().join("\n")).toMatch(/lifecycle rule/);
});
