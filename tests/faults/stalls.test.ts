/**
 * Scenarios 3, 7 and 8: a worker that stalls (frozen with SIGSTOP for longer than AckWait), inputs that stall
 * the engine (poison: an SVG that renders for a minute), and hostile inputs. AckWait is short here (5 s), so
 * that a freeze past it takes seconds.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { ErrorCode, ItemState } from "@imgc/proto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { declaredPng } from "../../worker/src/pipeline/test-support.js";
import { corpusDir, type Fixture, useCluster, waitForJob } from "../harness/index.js";
import {
  type Batch,
  childrenOf,
  elapsed,
  expectNothingLost,
  faultTimings,
  faultWorkerEnv,
  figure,
  frozenHolding,
  logsWith,
  memoryOf,
  natsOf,
  sampleMemory,
  smallImages,
  submitBatch,
  untilListed,
  uploadBatch,
  waitForProgress,
} from "./fault-kit.js";

const ACK_WAIT_MS = Number(faultTimings.IMGC_ACK_WAIT_MS);
/** What the README states a worker (its process and its engine children together) stays under. */
const WORKER_RSS_BOUND_MIB = 1024;

const cluster = useCluster({ workers: 4, env: faultTimings, workerEnv: faultWorkerEnv });
const coordinatorLogs = () => cluster().coordinators.flatMap((service) => service.jsonLogs());

let images: Fixture[];
let batch: Batch;
beforeAll(async () => {
  images = await smallImages();
  batch = await uploadBatch(cluster(), images);
}, 120_000);

describe("a worker freezes", () => {
  test("SIGSTOP for longer than AckWait, then SIGCONT: its late work is harmless", async () => {
    const c = cluster();
    const job = await submitBatch(c.jobs, batch);
    const progress = await waitForProgress(c.jobs, job.id);
    const nc = await natsOf(c);
    const { worker: victim, chunks: held } = await frozenHolding(c, nc, job.id).finally(() => nc.close());

    const frozenAt = Date.now();
    try {
      await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS + 3_000));
    } finally {
      await victim.kill("SIGCONT");
    }
    const thawedAt = Date.now();
    await waitForJob(c.jobs, job.id, { timeoutMs: 120_000 });
    const endedAfterMs = elapsed(frozenAt);
    // Its late work has landed before the counters are judged: it is back in the listing and its heartbeat
    // shows none of this job's chunks still running (each late report was made, or given up, by then).
    for (const deadline = Date.now() + 120_000; ; ) {
      const { workers: now } = await c.cluster.listWorkers({});
      const back = now.find((w) => w.id === victim.name);
      if (back && !back.chunks.some((chunk) => chunk.startsWith(`${job.id}.`))) break;
      if (Date.now() > deadline) throw new Error(`${victim.name} still runs chunks of ${job.id}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await expectNothingLost(c, job.id, batch);

    // It was taken for dead, its chunks went to others, and it came back.
    const gone = logsWith(coordinatorLogs(), "worker gone").filter(
      (l) => l.workerId === victim.name && (l.time as number) >= frozenAt,
    );
    expect(gone.map((l) => l.reason)).toEqual(["timeout"]);
    expect(victim.running()).toBe(true);
    const goneAt = (gone[0]?.time as number | undefined) ?? frozenAt;
    const rejoined = logsWith(coordinatorLogs(), "worker joined").filter(
      (l) => l.workerId === victim.name && (l.time as number) > goneAt,
    );
    expect(rejoined.length).toBeGreaterThan(0);
    const listed = (await c.cluster.listWorkers({})).workers.map((w) => w.id);
    expect(listed).toContain(victim.name);
    // After the thaw, the job's counters never move again: late reports count nothing twice.
    const { job: settled } = await c.jobs.getJob({ jobId: job.id });
    expect(settled?.counts?.done).toBe(batch.uploads.length);
    figure("3 worker SIGSTOP", {
      frozenAtFraction: Number(progress.toFixed(2)),
      frozenMs: thawedAt - frozenAt,
      heldChunks: held.length,
      republished: logsWith(coordinatorLogs(), "chunk republished").filter(
        (l) => l.workerId === victim.name && l.jobId === job.id,
      ).length,
      jobEndedAfterFreezeMs: endedAfterMs,
      ackWaitMs: ACK_WAIT_MS,
    });
  });
});

/**
 * A 300-byte SVG that librsvg renders for about a minute at 4000×4000 (16 megapixels, within the pixel limit), in
 * calls that sharp's own timeout does not interrupt: a real input that hangs the decoder.
 */
const hangingSvg = (seed: number) =>
  Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><!-- ${seed} -->
<defs><filter id="f" x="0" y="0" width="1" height="1"><feTurbulence baseFrequency="0.001" numOctaves="10"/>
<feGaussianBlur stdDeviation="500"/></filter></defs><rect width="4000" height="4000" filter="url(#f)"/></svg>`);

/** The batch with some images swapped for others, by position; each swapped one keeps its slot in the job. */
function swap(base: readonly Fixture[], replacements: ReadonlyMap<number, Fixture>): Fixture[] {
  return base.map((image, at) => replacements.get(at) ?? image);
}

/** The engine children of a worker process (it forks one per slot; tsx's esbuild service is a child too). */
function engineChildren(pid: number): number[] {
  return childrenOf(pid).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, "utf8").includes("engine-child");
    } catch {
      return false;
    }
  });
}

describe("poison inputs", () => {
  test("inputs that hang the decoder fail TIMEOUT in one delivery, the rest of the job is unaffected, every worker survives", async () => {
    const c = cluster();
    const positions = [40, 170, 300, 430];
    const poisoned = new Map(positions.map((at, n) => [at, { name: `hang-${n}.svg`, body: hangingSvg(n) }]));
    const poisonBatch = await uploadBatch(c, swap(images, poisoned));
    const pidsBefore = new Map(c.workers.filter((w) => w.running()).map((w) => [w.name, w.pid]));

    const started = Date.now();
    const job = await submitBatch(c.jobs, poisonBatch);
    // An engine child dies under each of two workers while the job runs (the OOM killer, a decoder crash):
    // each worker replaces it and tries its image again. (One child per worker: an image is tried twice, so two
    // children of one worker killed at the same instant could both be under the same image.)
    await waitForProgress(c.jobs, job.id, 0.3, 0.5);
    const crashed = c.workers.filter((w) => w.running()).slice(0, 2);
    const children = crashed.flatMap((w) => engineChildren(w.pid).slice(0, 1));
    for (const child of children) process.kill(child, "SIGKILL");
    await waitForJob(c.jobs, job.id, { timeoutMs: 120_000 });
    const jobMs = elapsed(started);

    const failures = new Map([...poisoned.values()].map((f) => [f.name, ErrorCode.TIMEOUT]));
    const results = await expectNothingLost(c, job.id, poisonBatch, { failures });
    // Bounded: each was cut at the item timeout, not after the minute or more the render takes uncut. (An item's
    // duration also holds its read from S3 and any wait for an engine child that is up: seconds on a busy
    // machine, more while the children killed above restart.)
    for (const result of results.filter((r) => r.state === ItemState.FAILED)) {
      expect(result.durationMs, result.sourceKey).toBeLessThan(30_000);
    }
    // In one delivery: nothing was republished or dead-lettered.
    expect(logsWith(coordinatorLogs(), "chunk republished").filter((l) => l.jobId === job.id)).toEqual([]);
    expect(logsWith(coordinatorLogs(), "chunk dead-lettered").filter((l) => l.jobId === job.id)).toEqual([]);
    // Every worker survived, as the same process, and is still a member.
    for (const [name, pid] of pidsBefore) {
      const worker = c.workers.find((w) => w.name === name);
      expect(worker?.running(), `${name} is running`).toBe(true);
      expect(worker?.pid).toBe(pid);
    }
    await untilListed(c, [...pidsBefore.keys()]);
    // The killed children were replaced.
    expect(children).toHaveLength(2);
    for (const worker of crashed) {
      const now = engineChildren(worker.pid);
      expect(now, `${worker.name}'s engine children`).toHaveLength(Number(faultWorkerEnv.IMGC_WORKER_SLOTS));
      expect(now.some((pid) => children.includes(pid))).toBe(false);
    }
    figure("7 poison", {
      hangingInputs: positions.length,
      jobMs,
      poisonDurationsMs: results.filter((r) => r.state === ItemState.FAILED).map((r) => r.durationMs),
      engineChildrenKilled: children.length,
    });
  });
});

describe("hostile inputs", () => {
  let server: Server;
  let fetched: string[];
  let base: string;
  beforeAll(async () => {
    fetched = [];
    server = createServer((req, res) => {
      fetched.push(req.url ?? "");
      res.end("x");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("each fails alone with a stable code, in bounded time, and worker memory stays under the stated bound", async () => {
    const c = cluster();
    const noise = randomBytes(4096);
    noise[0] = 0;
    const rocket = readFileSync(path.join(corpusDir, "photos", "rocket.jpg"));
    const frames = 3000;
    const gif = await sharp(Buffer.alloc(4 * 4 * 3 * frames, 128), {
      raw: { width: 4, height: 4 * frames, channels: 3, pageHeight: 4 },
    })
      .gif({ keepDuplicateFrames: true })
      .toBuffer();
    const bad = (name: string) => readFileSync(path.join(corpusDir, "bad", name));
    const hostile: { fixture: Fixture; code?: ErrorCode }[] = [
      { fixture: { name: "zero-bytes.png", body: Buffer.alloc(0) }, code: ErrorCode.UNSUPPORTED_FORMAT },
      { fixture: { name: "random-bytes.jpg", body: noise }, code: ErrorCode.UNSUPPORTED_FORMAT },
      { fixture: { name: "text-named.jpg", body: Buffer.from("not an image\n") }, code: ErrorCode.UNSUPPORTED_FORMAT },
      // A wrong extension on a real image changes nothing: the bytes say what it is.
      { fixture: { name: "png-named.jpg", body: (images[1] as Fixture).body } },
      { fixture: { name: "declares-65535x65535.png", body: declaredPng(65535, 65535) }, code: ErrorCode.PIXEL_LIMIT },
      {
        fixture: {
          name: "declares-100000x100000.svg",
          body: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"/>`),
        },
        code: ErrorCode.PIXEL_LIMIT,
      },
      { fixture: { name: `${frames}-frames.gif`, body: gif }, code: ErrorCode.FRAME_LIMIT },
      // External references are neutralised, never fetched: the SVG renders without them.
      {
        fixture: {
          name: "external-refs.svg",
          body: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="32" height="32">
<style>@import url("${base}/import.css");</style><image href="${base}/href.png" width="16" height="16"/>
<image xlink:href="file:///etc/passwd" width="16" height="16"/><rect width="8" height="8" style="fill: url(${base}/fill.png)"/></svg>`),
        },
      },
      {
        fixture: {
          name: "entity.svg",
          body: Buffer.from(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "${base}/entity">]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>`),
        },
        code: ErrorCode.UNSUPPORTED_FORMAT,
      },
      {
        fixture: { name: "truncated.jpg", body: rocket.subarray(0, rocket.length / 2) },
        code: ErrorCode.CORRUPT_INPUT,
      },
      { fixture: { name: "truncated.png", body: bad("truncated.png") }, code: ErrorCode.CORRUPT_INPUT },
      { fixture: { name: "corrupt-header.jpg", body: bad("corrupt-header.jpg") }, code: ErrorCode.CORRUPT_INPUT },
      {
        fixture: { name: "font-not-an-image.ttf", body: bad("font-not-an-image.ttf") },
        code: ErrorCode.UNSUPPORTED_FORMAT,
      },
    ];
    // Spread through the job, so that each shares its chunk with good images.
    const step = Math.floor(images.length / hostile.length);
    const replaced = new Map(hostile.map((h, n) => [n * step + 7, h.fixture]));
    const hostileBatch = await uploadBatch(c, swap(images, replaced));
    const workers = c.workers.filter((w) => w.running());
    const memory = sampleMemory(workers.map((w) => w.pid));
    const started = Date.now();
    const job = await submitBatch(c.jobs, hostileBatch);
    await waitForJob(c.jobs, job.id, { timeoutMs: 120_000 });
    const jobMs = elapsed(started);
    const { peakRssKiB } = memory.stop();

    const failures = new Map(hostile.flatMap((h) => (h.code === undefined ? [] : [[h.fixture.name, h.code] as const])));
    const results = await expectNothingLost(c, job.id, hostileBatch, { failures });
    // Each failed on its own check, before any deadline: the codes above are exact, and a deadline would have
    // made it TIMEOUT. (Their durations are in the figure; a bound in milliseconds would measure the machine.)
    expect(results.filter((r) => r.errorCode === ErrorCode.TIMEOUT)).toEqual([]);
    expect(fetched, "nothing was fetched for an SVG").toEqual([]);
    for (const worker of workers) expect(worker.running(), `${worker.name} survived`).toBe(true);

    const peaks = workers.map((w) => ({ worker: w.name, peakMiB: Math.round((peakRssKiB.get(w.pid) ?? 0) / 1024) }));
    const hwm = workers.map((w) => ({ worker: w.name, ...memoryOf(w.pid) }));
    for (const { worker, peakMiB } of peaks) {
      expect(peakMiB, `${worker}'s RSS (process and engine children)`).toBeLessThan(WORKER_RSS_BOUND_MIB);
    }
    figure("8 hostile inputs", {
      hostile: hostile.length,
      jobMs,
      slowestFailureMs: Math.max(...results.filter((r) => r.state === ItemState.FAILED).map((r) => r.durationMs)),
      peakRssMiB: peaks,
      hwmMiB: hwm.map((h) => ({ worker: h.worker, hwmMiB: Math.round(h.hwmKiB / 1024), processes: h.processes })),
      boundMiB: WORKER_RSS_BOUND_MIB,
    });
  });
});
