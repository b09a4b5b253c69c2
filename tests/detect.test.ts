/**
 * Object detection on the same cluster as compression (issue 15), through real processes: a job that asks for
 * DETECT while no worker can detect waits and says so, and ends once a detecting worker joins; a job with both
 * kinds ends with a compressed output and the objects of every corpus photo, each box placed on the output.
 */
import { ImageFormat, ItemState, JobState, TaskKind } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { allResults, corpusFiles, uploadFixtures, useCluster, waitForJob } from "./harness/index.js";

// One compressing worker; the detecting one joins in the first test (the second uses it too).
const cluster = useCluster({ workers: 1 });

const uploadSource = (key: string) => ({ kind: { case: "uploadKey" as const, value: key } });
const NO_DETECTOR = "Waiting for a worker that can detect objects: none is live";

describe("object detection", () => {
  test("a DETECT job waits with a notice while no worker can detect, and ends once one joins", async () => {
    const c = cluster();
    const photos = corpusFiles("photos").filter((file) => /motorcycle_left|coffee/.test(file));
    const { uploads } = await uploadFixtures(c.storage, photos);
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((upload) => uploadSource(upload.key)),
      tasks: [TaskKind.DETECT],
    });
    if (!job) throw new Error("SubmitJob returned no job");
    expect(job.notice).toBe(NO_DETECTOR);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const waiting = (await c.jobs.getJob({ jobId: job.id })).job;
    expect(waiting?.notice).toBe(NO_DETECTOR);
    expect(waiting?.counts?.pending).toBe(photos.length);
    const stats = await c.cluster.getQueueStats({});
    expect(stats.kinds.find((k) => k.kind === TaskKind.DETECT)?.workers).toBe(0);
    expect(Number(stats.kinds.find((k) => k.kind === TaskKind.DETECT)?.backlogChunks)).toBeGreaterThan(0);

    await c.addWorker({ IMGC_WORKER_TASKS: "detect" });
    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 150_000 });
    expect(JobState[finished.state]).toBe("COMPLETED");
    expect(finished.notice).toBe("");
    const results = await allResults(c.jobs, job.id);
    for (const result of results) {
      expect(result.state).toBe(ItemState.DONE);
      expect(result.outputKey).toBe("");
      expect(result.detection?.objects.length, result.sourceKey).toBeGreaterThan(0);
    }
  });

  test("a job with both kinds ends with an output and the objects of every corpus photo", async () => {
    const c = cluster();
    const photos = corpusFiles("photos");
    const { uploads } = await uploadFixtures(c.storage, photos);
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((upload) => uploadSource(upload.key)),
      options: { format: ImageFormat.WEBP, resize: { maxWidth: 800 } },
      tasks: [TaskKind.COMPRESS, TaskKind.DETECT],
      detection: { minScore: 0.3 },
    });
    if (!job) throw new Error("SubmitJob returned no job");
    expect(job.tasks).toEqual([TaskKind.COMPRESS, TaskKind.DETECT]);
    expect(job.notice).toBe("");

    const finished = await waitForJob(c.jobs, job.id, { timeoutMs: 170_000 });
    expect(JobState[finished.state]).toBe("COMPLETED");
    const results = await allResults(c.jobs, job.id);
    expect(results).toHaveLength(photos.length);
    for (const result of results) {
      const name = result.sourceKey.split("/").pop();
      expect([ItemState.DONE, ItemState.KEPT_ORIGINAL], name).toContain(result.state);
      expect(result.outputKey, name).not.toBe("");
      expect(result.detection, name).toBeDefined();
      expect(result.detection?.sourceWidth, name).toBeGreaterThan(0);
      for (const object of result.detection?.objects ?? []) {
        expect(object.box, `${name}: ${object.label}`).toBeDefined();
        expect((object.box?.x ?? 0) + (object.box?.width ?? 0)).toBeLessThanOrEqual(result.width);
        expect((object.box?.y ?? 0) + (object.box?.height ?? 0)).toBeLessThanOrEqual(result.height);
      }
    }
    const labelsOf = (file: string) =>
      results.find((r) => r.sourceKey.endsWith(`/${file}`))?.detection?.objects.map((o) => o.label) ?? [];
    expect(labelsOf("motorcycle_left.png")).toContain("motorcycle");
    expect(labelsOf("coffee.png")).toContain("cup");

    // The report names them too.
    const report = await c.storage.getBuffer(finished.reportKey.replace(/\.json$/, ".csv"));
    const lines = report.toString("utf8").trim().split(/\r?\n/);
    expect(lines[0]?.split(",").at(-1)).toBe("labels");
    expect(lines.find((line) => line.includes("coffee.png"))).toMatch(/cup/);
  });
});
