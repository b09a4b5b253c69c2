// Object detection's figures, each against its baseline in the same run (docs/benchmarks.md explains each):
//   1. detections per second per core through a real cluster (gateway → coordinator → NATS → one detection
//      worker with a slot per core → S3) against plain loops over the same model and library, one process per
//      slot, all at once (bench/lib/detect-loops.ts); goal ≥ 0.9. Also images per CPU-second, every process of
//      each side counted;
//   2. the detection worker's peak resident memory (its engine children, each holding the model, included).
//
// Usage: npm run bench:detect [-- --repeat 2 --rounds 2 --slots N --loop-only]
// --slots: the detection worker's slots, and the baseline's loops (default the core count).
// --loop-only measures the plain loop alone: the through-the-cluster part needs a coordinator that chunks DETECT
// jobs (SubmitJob with tasks [DETECT]).
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
import { MODEL_NAME } from "../worker/src/detect/model.js";
import { threadsPerChild } from "../worker/src/engine-pool.js";
import { type LoopRun, startLoops } from "./lib/detect-loops.js";
import { median, round } from "./lib/measure.js";
import { cpuMeter, findProcesses, sampleTrees } from "./lib/proc-stats.js";
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
const options = create(DetectionOptionsSchema);

// The baseline: what the detection worker's engine children do per image, with nothing around them; a loop
// process per slot, one image at a time each (the model holds its thread for the whole run), libvips with a
// child's share of the cores.
const vipsThreads = threadsPerChild(slots);
const photos = corpusFiles("photos");
const inputs = Array.from({ length: repeat }, () => photos).flat();

/** nats-server and the S3 server of the cluster, found by their ports. */
function infraPids(c: Cluster): number[] {
  const natsPort = new URL(c.addresses.nats).port;
  const s3Port = new URL(c.addresses.s3).port;
  return [...findProcesses("-js", "-p", natsPort), ...findProcesses("scripts/s3-server.ts", "--port", s3Port)];
}

/** One DETECT job over the uploaded photos, timed from the call to the job's own end. */
async function clusterJob(c: Cluster, keys: readonly string[]): Promise<LoopRun & { cpu: Record<string, number> }> {
  const worker = c.workers[0];
  if (!worker) throw new Error("no detection worker");
  const parts: Record<string, () => number> = {
    coordinator: cpuMeter([c.coordinator.pid]).stop,
    gateway: cpuMeter([c.gateway.pid]).stop,
    // The worker's own process (S3 streams, NATS, reports) and its engine children (decode and model), apart.
    detectorProcess: cpuMeter([worker.pid], { withChildren: false }).stop,
    engineChildren: (() => {
      const all = cpuMeter([worker.pid]);
      const own = cpuMeter([worker.pid], { withChildren: false });
      return () => all.stop() - own.stop();
    })(),
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
      workerEnv: {
        IMGC_WORKER_TASKS: "detect",
        IMGC_WORKER_SLOTS: String(slots),
        VIPS_CONCURRENCY: String(vipsThreads),
      },
    });
const figures: Figure[] = [];
const details: Record<string, unknown> = { model: MODEL_NAME, images: inputs.length, cores, slots, vipsThreads };
say("warming up…");
// Each loop loads the model and warms up over its share before the first round.
const loopsOf = await startLoops(inputs, slots, vipsThreads);
try {
  const keys: string[] = [];
  if (c)
    for (let i = 0; i < repeat; i++) keys.push(...(await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key));
  if (c)
    await clusterJob(
      c,
      (await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key),
    );

  const loops: LoopRun[] = [];
  const jobs: (LoopRun & { cpu: Record<string, number> })[] = [];
  const memory: Record<string, { peakTreeBytes: number; peakProcessBytes: number[] }>[] = [];
  for (let r = 0; r < rounds; r++) {
    const loop = await loopsOf.run();
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

  const loopPerCore = median(loops.map((run) => run.images / run.wallSeconds / slots));
  const loopPerCpu = median(loops.map((run) => run.images / run.cpuSeconds));
  const loopPeak = Math.max(...loopsOf.peakRssBytes);
  details.loop = {
    what: `${slots} process(es) at once, each over its share of the images, one at a time: decode with sharp (a child's libvips threads), letterbox, CenterNet on TensorFlow.js WASM, suppression, filters`,
    imagesPerSecondPerCore: round(loopPerCore),
    imagesPerCpuSecond: round(loopPerCpu),
    peakRssMiB: round(loopPeak / MiB, 0),
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
        figure: `Detections per second per core through the cluster (1 detection worker × ${slots} slot(s), a core each), ${job}, vs ${slots} plain loop(s) over the same model at once in the same run (1 image at a time each)`,
        value: `${clusterPerCore.toFixed(2)} images/s/core`,
        baseline: `${loopPerCore.toFixed(2)} images/s/core`,
        ratio: ratio.toFixed(2),
        goal: goalMet(ratio, 0.9),
      },
      {
        figure:
          "Images per CPU-second: every cluster process (coordinator, gateway, detection worker and its children, NATS, S3) vs the loops' processes",
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
        figure: `${slots} plain loop(s) over the model (${MODEL_NAME}, TensorFlow.js WASM) at once, ${job}, one image at a time each`,
        value: `${loopPerCore.toFixed(2)} images/s/core`,
        baseline: `${loopPerCpu.toFixed(2)} images per CPU-second`,
      },
      {
        figure: "Peak resident memory of one loop process (sharp, TensorFlow.js and the model loaded)",
        value: `${(loopPeak / MiB).toFixed(0)} MiB`,
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
  loopsOf.stop();
  await c?.stop();
}
