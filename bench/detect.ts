// Object detection's figures, each against its baseline in the same run (docs/benchmarks.md explains each):
//   1. detections per second per core through a real cluster (gateway → coordinator → NATS → one detection
//      worker with a slot per core → S3) against a plain loop over the same model and library in this process,
//      one image at a time (one core); goal ≥ 0.9. Also images per CPU-second, every process of each side
//      counted;
//   2. the detection worker's peak resident memory (its engine children, each holding the model, included).
//
// Usage: npm run bench:detect [-- --repeat 2 --rounds 2 --slots N --loop-only]
// --slots: the detection worker's slots (default the core count). On a small shared machine, 1 compares one core
// with one core: the cluster's other processes then still have a core to run on.
// --loop-only measures the plain loop alone: the through-the-cluster part needs a coordinator that chunks DETECT
// jobs (SubmitJob with tasks [DETECT]).
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { DetectionOptionsSchema, ItemState, JobState, TaskKind } from "@imgc/proto";
import sharp from "sharp";
import {
  allResults,
  type Cluster,
  corpusFiles,
  startCluster,
  uploadFixtures,
  waitForJob,
} from "../tests/harness/index.js";
import { createDetector } from "../worker/src/detect/detector.js";
import { loadModel, MODEL_NAME } from "../worker/src/detect/model.js";
import { median, round } from "./lib/measure.js";
import { cpuMeter, findProcesses, peakRssBytes, sampleTrees } from "./lib/proc-stats.js";
import { commandOf, type Figure, goalMet, machineNow, writeResults } from "./lib/results.js";

const { values } = parseArgs({
  options: {
    repeat: { type: "string", default: "2" },
    rounds: { type: "string", default: "2" },
    slots: { type: "string" },
    "loop-only": { type: "boolean", default: false },
  },
});
const repeat = Number(values.repeat);
const rounds = Number(values.rounds);
const loopOnly = values["loop-only"] === true;
const cores = availableParallelism();
const slots = values.slots === undefined ? cores : Number(values.slots);
if (!Number.isInteger(slots) || slots < 1 || slots > 64) {
  console.error(`Expected integer between 1 and 64 for --slots but received ${JSON.stringify(values.slots)}`);
  process.exit(2);
}
const say = (line: string) => console.log(line);
const machine = machineNow({ sharp: sharp.versions.sharp, vips: sharp.versions.vips });
const MiB = 1024 * 1024;
const limits = { maxInputBytes: 64 * MiB, maxPixels: 100_000_000, maxFrames: 500, timeoutMs: 60_000 };
const options = create(DetectionOptionsSchema);

interface Run {
  images: number;
  objects: number;
  wallSeconds: number;
  cpuSeconds: number;
}

// The loop: what the detection worker's engine child does per image, with nothing around it. One image at a
// time (the model holds its thread for the whole run), libvips on one thread like a child's share.
sharp.concurrency(1);
const photos = corpusFiles("photos");
const inputs = Array.from({ length: repeat }, () => photos).flat();
const bytes = new Map(photos.map((file) => [file, readFileSync(file)]));
const detector = createDetector(await loadModel());

async function plainLoop(): Promise<Run> {
  const meter = cpuMeter([process.pid], { withChildren: false });
  const started = performance.now();
  let objects = 0;
  for (const file of inputs) {
    objects += (await detector.detect(bytes.get(file) ?? Buffer.alloc(0), options, limits)).objects.length;
  }
  return {
    images: inputs.length,
    objects,
    wallSeconds: (performance.now() - started) / 1000,
    cpuSeconds: meter.stop(),
  };
}

/** nats-server and the S3 server of the cluster, found by their ports. */
function infraPids(c: Cluster): number[] {
  const natsPort = new URL(c.addresses.nats).port;
  const s3Port = new URL(c.addresses.s3).port;
  return [...findProcesses("-js", "-p", natsPort), ...findProcesses("scripts/s3-server.ts", "--port", s3Port)];
}

/** One DETECT job over the uploaded photos, timed from the call to the job's own end. */
async function clusterJob(c: Cluster, keys: readonly string[]): Promise<Run & { cpu: Record<string, number> }> {
  const worker = c.workers[0];
  if (!worker) throw new Error("no detection worker");
  const parts: Record<string, () => number> = {
    coordinator: cpuMeter([c.coordinator.pid]).stop,
    gateway: cpuMeter([c.gateway.pid]).stop,
    detector: cpuMeter([worker.pid]).stop,
    infra: cpuMeter(infraPids(c)).stop,
  };
  const started = Date.now();
  const { job } = await c.jobs.submitJob({
    sources: keys.map((key) => ({ kind: { case: "uploadKey" as const, value: key } })),
    tasks: [TaskKind.DETECT],
    detection: options,
  });
  const finished = await waitForJob(c.jobs, job?.id ?? "", { timeoutMs: 600_000, intervalMs: 500 });
  const cpu = Object.fromEntries(Object.entries(parts).map(([name, stop]) => [name, round(stop(), 2)]));
  if (finished.state !== JobState.COMPLETED || !finished.finishedAt) {
    throw new Error(`the detection job ended ${JobState[finished.state]}: ${JSON.stringify(finished.counts)}`);
  }
  const results = await allResults(c.jobs, finished.id);
  const detected = results.filter((r) => r.state === ItemState.DONE && r.detection);
  if (detected.length !== keys.length) {
    throw new Error(`${detected.length} of ${keys.length} items came back with a detection: is DETECT chunked?`);
  }
  return {
    images: keys.length,
    objects: detected.reduce((sum, r) => sum + (r.detection?.objects.length ?? 0), 0),
    wallSeconds: (timestampMs(finished.finishedAt) - started) / 1000,
    cpuSeconds: Object.values(cpu).reduce((sum, x) => sum + x, 0),
    cpu,
  };
}

say(
  `imgc detection benchmark: ${cores} cores (${cpus()[0]?.model ?? "?"}), load average ${loadavg()[0]?.toFixed(1)}; ` +
    `photos × ${repeat} (${inputs.length} images), ${rounds} round(s)${loopOnly ? ", the plain loop only" : `, detection worker × ${slots} slot(s)`}`,
);
const c = loopOnly
  ? undefined
  : await startCluster({
      workers: 1,
      env: { IMGC_CACHE_TTL_MS: "0" },
      workerEnv: { IMGC_WORKER_TASKS: "detect", IMGC_WORKER_SLOTS: String(slots) },
    });
const figures: Figure[] = [];
const details: Record<string, unknown> = { model: MODEL_NAME, images: inputs.length, cores, slots };
try {
  const keys: string[] = [];
  if (c)
    for (let i = 0; i < repeat; i++) keys.push(...(await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key));
  say("warming up…");
  await plainLoop();
  if (c)
    await clusterJob(
      c,
      (await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key),
    );

  const loops: Run[] = [];
  const jobs: (Run & { cpu: Record<string, number> })[] = [];
  const memory: Record<string, { peakTreeBytes: number; peakProcessBytes: number[] }>[] = [];
  for (let r = 0; r < rounds; r++) {
    const loop = await plainLoop();
    loops.push(loop);
    say(
      `  round ${r + 1} loop    ${(loop.images / loop.wallSeconds).toFixed(2)} images/s (${loop.images} in ${loop.wallSeconds.toFixed(1)} s, ${loop.cpuSeconds.toFixed(1)} CPU-s, ${loop.objects} objects)`,
    );
    const worker = c?.workers[0];
    if (!c || !worker) continue;
    const sampler = sampleTrees({ detector: worker.pid });
    const job = await clusterJob(c, keys);
    memory.push(sampler.stop());
    jobs.push(job);
    say(
      `  round ${r + 1} cluster ${(job.images / job.wallSeconds).toFixed(2)} images/s (${job.images} in ${job.wallSeconds.toFixed(1)} s, ${job.cpuSeconds.toFixed(1)} CPU-s, ${job.objects} objects)`,
    );
  }

  const loopPerCore = median(loops.map((run) => run.images / run.wallSeconds));
  const loopPerCpu = median(loops.map((run) => run.images / run.cpuSeconds));
  details.loop = {
    what: "this process, one image at a time: decode with sharp (one libvips thread), letterbox, CenterNet on TensorFlow.js WASM, suppression, filters",
    imagesPerSecond: round(loopPerCore),
    imagesPerCpuSecond: round(loopPerCpu),
    peakRssMiB: round(peakRssBytes(process.pid) / MiB, 0),
    runs: loops,
  };
  const job = `photo corpus × ${repeat} (${inputs.length} images), default DetectionOptions, median of ${rounds} round(s)`;
  if (c && jobs.length > 0) {
    const clusterPerCore = median(jobs.map((run) => run.images / run.wallSeconds / slots));
    const clusterPerCpu = median(jobs.map((run) => run.images / run.cpuSeconds));
    const ratio = clusterPerCore / loopPerCore;
    const peakTree = Math.max(...memory.map((m) => m.detector?.peakTreeBytes ?? 0));
    const peakProcess = Math.max(...memory.flatMap((m) => m.detector?.peakProcessBytes ?? []));
    details.cluster = {
      what: `one detection worker with ${slots} slot(s) (an engine child each), DETECT-only job through the gateway`,
      imagesPerSecondPerCore: round(clusterPerCore),
      imagesPerCpuSecond: round(clusterPerCpu),
      ratioPerCore: round(ratio),
      goal: 0.9,
      runs: jobs,
      memory,
    };
    figures.push(
      {
        figure: `Detections per second per core through the cluster (1 detection worker × ${slots} slot(s), a core each), ${job}, vs a plain loop over the same model in the same run (1 at a time, 1 core)`,
        value: `${clusterPerCore.toFixed(2)} images/s/core`,
        baseline: `${loopPerCore.toFixed(2)} images/s`,
        ratio: ratio.toFixed(2),
        goal: goalMet(ratio, 0.9),
      },
      {
        figure:
          "Images per CPU-second: every cluster process (coordinator, gateway, detection worker and its children, NATS, S3) vs the loop's process",
        value: clusterPerCpu.toFixed(2),
        baseline: loopPerCpu.toFixed(2),
        ratio: (clusterPerCpu / loopPerCpu).toFixed(2),
      },
      {
        figure: `Peak resident memory of the detection worker (its process and ${slots} engine child(ren), each holding the model)`,
        value: `${(peakTree / MiB).toFixed(0)} MiB`,
        baseline: `largest single process ${(peakProcess / MiB).toFixed(0)} MiB`,
      },
    );
  } else {
    figures.push(
      {
        figure: `Plain loop over the model (${MODEL_NAME}, TensorFlow.js WASM), ${job}, one image at a time`,
        value: `${loopPerCore.toFixed(2)} images/s (one core)`,
        baseline: `${loopPerCpu.toFixed(2)} images per CPU-second`,
      },
      {
        figure: "Peak resident memory of that process (sharp, TensorFlow.js and the model loaded)",
        value: `${(peakRssBytes(process.pid) / MiB).toFixed(0)} MiB`,
      },
      {
        figure: "Through the cluster",
        value: "not measured in this run (--loop-only)",
      },
    );
  }
  const file = writeResults({
    bench: "detect",
    command: commandOf("bench:detect"),
    machine,
    options: { repeat, rounds, slots, loopOnly },
    figures,
    details,
  });
  say(`kept in ${file}`);
  for (const f of figures)
    say(`  ${f.figure}: ${f.value}${f.baseline ? ` vs ${f.baseline}` : ""}${f.ratio ? ` = ${f.ratio}` : ""}`);
} finally {
  await c?.stop();
}
