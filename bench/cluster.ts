// The cluster's figures, each against its baseline in the same run (docs/benchmarks.md explains each):
//   1. throughput: the full pipeline (gateway → coordinator → NATS → 2 workers → S3) against a plain sharp
//      loop at the same concurrency on local files (goal ≥ 0.85) and reading from and writing to the same S3
//      server (goal ≥ 0.95), on the photo corpus, WebP at the default quality;
//   2. peak RSS per worker (its engine children included) during those jobs;
//   3. scheduling overhead with a no-op worker: the chunk round trip (publish → pull → claim → report →
//      complete → ack) as median and p99 one chunk at a time, and chunks/s and items/s under load;
//   4. scaling: the same job with 1, 2, 4 and 8 one-slot workers, and the efficiency against linear.
//
// Usage: npm run bench:cluster [-- --repeat 4 --rounds 2 --scaling 1,2,4,8 --quick]
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { JobState } from "@imgc/proto";
import sharp from "sharp";
import {
  type Cluster,
  corpusFiles,
  type Service,
  startCluster,
  uploadFixtures,
  waitForJob,
} from "../tests/harness/index.js";
import { threadsPerChild } from "../worker/src/engine-pool.js";
import { median, percentile, round, untilCount, untilWorkers } from "./lib/measure.js";
import { type ChunkTiming, startNoopWorker } from "./lib/noop-worker.js";
import { cpuMeter, findProcesses, available as procAvailable, sampleTrees } from "./lib/proc-stats.js";
import { commandOf, type Figure, goalMet, machineNow, writeResults } from "./lib/results.js";
import { benchOptions, type LoopJob } from "./lib/sharp-loop.js";

const { values } = parseArgs({
  options: {
    repeat: { type: "string", default: "4" },
    rounds: { type: "string", default: "2" },
    scaling: { type: "string", default: "1,2,4,8" },
    "latency-chunks": { type: "string", default: "100" },
    /** Items of the under-load job (the option kept its old name). */
    "load-chunks": { type: "string", default: "256" },
    "capacity-items": { type: "string", default: "2000" },
    quick: { type: "boolean", default: false },
  },
});
const quick = values.quick === true;
const repeat = quick ? 1 : Number(values.repeat);
const rounds = quick ? 1 : Number(values.rounds);
const scaling = (quick ? "1,2" : values.scaling).split(",").map(Number);
const latencyChunks = quick ? 20 : Number(values["latency-chunks"]);
const loadItems = quick ? 64 : Number(values["load-chunks"]);
const capacityItems = quick ? 400 : Number(values["capacity-items"]);

const cores = availableParallelism();
const slotsPerWorker = Math.max(1, Math.floor(cores / 2));
const concurrency = 2 * slotsPerWorker;
const repoRoot = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.log(line);
const machine = machineNow({ sharp: sharp.versions.sharp, vips: sharp.versions.vips });
const command = commandOf("bench:cluster");

const MiB = 1024 * 1024;

/** Runs the plain sharp loop in a child with the workers' thread tuning; its own wall time. */
function sharpLoop(job: LoopJob): Promise<Run> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "imgc-bench-")), "job.json");
  writeFileSync(file, JSON.stringify(job));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "bench/lib/sharp-loop.ts", file],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          UV_THREADPOOL_SIZE: String(Math.max(4, job.concurrency)),
          VIPS_CONCURRENCY: String(threadsPerChild(job.concurrency)),
        },
        maxBuffer: 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`sharp loop failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "{}"));
      },
    );
  });
}

/** A timed run: wall seconds, and CPU seconds of every process that did the work. */
interface Run {
  images: number;
  wallSeconds: number;
  cpuSeconds: number;
  /** The cluster's CPU seconds by part. */
  cpu?: Record<string, number>;
}

/** nats-server and the S3 server of the cluster, found by their ports. */
function infraPids(c: Cluster): number[] {
  const natsPort = new URL(c.addresses.nats).port;
  const s3Port = new URL(c.addresses.s3).port;
  return [...findProcesses("-js", "-p", natsPort), ...findProcesses("scripts/s3-server.ts", "--port", s3Port)];
}

const uploadSource = (key: string) => ({ kind: { case: "uploadKey" as const, value: key } });

/** One job of `keys` through the gateway, timed from the call to its observed end. */
async function clusterJob(c: Cluster, keys: readonly string[]): Promise<Run> {
  // Every process of the pipeline, metered by part: coordinator, gateway, each worker's own process and its
  // engine children, NATS, the S3 server.
  const workers = live(c);
  const infra = infraPids(c);
  const workerTrees = cpuMeter(workers.map((w) => w.pid));
  const workerProcesses = cpuMeter(
    workers.map((w) => w.pid),
    { withChildren: false },
  );
  const parts: Record<string, () => number> = {
    coordinator: cpuMeter([c.coordinator.pid]).stop,
    gateway: cpuMeter([c.gateway.pid]).stop,
    workerProcesses: workerProcesses.stop,
    // Engine children come and go (started on demand, replaced when they grow): the trees less the workers.
    engineChildren: () => workerTrees.stop() - workerProcesses.stop(),
    nats: cpuMeter(infra.slice(0, 1)).stop,
    s3: cpuMeter(infra.slice(1)).stop,
  };
  const started = Date.now();
  const { job } = await c.jobs.submitJob({ sources: keys.map(uploadSource), options: benchOptions });
  // Sparse polling (it costs the gateway and the coordinator CPU too); the end comes from the job's own clock.
  const finished = await waitForJob(c.jobs, job?.id ?? "", { timeoutMs: 1_800_000, intervalMs: 500 });
  const cpu = Object.fromEntries(Object.entries(parts).map(([name, stop]) => [name, round(stop(), 2)]));
  if (finished.state !== JobState.COMPLETED || !finished.finishedAt) {
    throw new Error(`the benchmark job ended ${JobState[finished.state]}: ${JSON.stringify(finished.counts)}`);
  }
  const wallSeconds = (timestampMs(finished.finishedAt) - started) / 1000;
  const cpuSeconds = Object.values(cpu).reduce((sum, x) => sum + x, 0);
  return { images: keys.length, wallSeconds, cpuSeconds, cpu };
}

const live = (c: Cluster) => c.workers.filter((w) => w.running());

/** Median and p99 of one field of the chunk timings, ms. */
const spread = (timings: readonly ChunkTiming[], pick: (t: ChunkTiming) => number) => ({
  median: round(median(timings.map(pick)), 1),
  p99: round(percentile(timings.map(pick), 99), 1),
});

say(
  `imgc cluster benchmark: ${cores} cores (${cpus()[0]?.model ?? "?"}), load average ${loadavg()[0]?.toFixed(1)}; ` +
    `2 workers × ${slotsPerWorker} slots = concurrency ${concurrency}; photos × ${repeat}, ${rounds} round(s)`,
);
const c = await startCluster({
  workers: 2,
  env: { IMGC_CACHE_TTL_MS: "0" },
  // Two workers share this machine: each engine child gets its share of the cores, as the loop's images do
  // (a worker alone on its machine works this out itself).
  workerEnv: { IMGC_WORKER_SLOTS: String(slotsPerWorker), VIPS_CONCURRENCY: String(threadsPerChild(concurrency)) },
});
const results: Record<string, unknown> = {};
const figures: Figure[] = [];
const fixed = (x: number, digits = 2) => x.toFixed(digits);
try {
  const photos = corpusFiles("photos");
  const localInputs = Array.from({ length: repeat }, () => photos).flat();
  const keys: string[] = [];
  for (let i = 0; i < repeat; i++) keys.push(...(await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key));
  const s3 = {
    endpoint: c.addresses.s3,
    accessKey: c.s3.accessKey,
    secretKey: c.s3.secretKey,
    bucket: c.s3.bucket,
  };
  const outDir = mkdtempSync(path.join(tmpdir(), "imgc-bench-out-"));

  // 1. Throughput. Warm both paths first (JIT, engine children, libvips), then rounds in rotating order so
  // that load from other processes falls on all three alike.
  say("warming up…");
  const warm = (await uploadFixtures(c.storage, photos)).uploads.map((u) => u.key);
  await clusterJob(c, warm);
  await sharpLoop({ mode: "local", concurrency, inputs: photos, output: outDir });
  const samples: Record<"local" | "s3" | "cluster", number[]> = { local: [], s3: [], cluster: [] };
  /** Images per CPU-second: what load from other processes on a shared machine disturbs far less. */
  const perCpu: Record<"local" | "s3" | "cluster", number[]> = { local: [], s3: [], cluster: [] };
  const cpuByPart: Record<string, number>[] = [];
  const memory: Record<string, { peakTreeBytes: number; peakProcessBytes: number[] }>[] = [];
  const clusterPids = () => [c.coordinator.pid, c.gateway.pid, ...live(c).map((w) => w.pid)];
  let idleCpu = { cpuSeconds: 0, wallSeconds: 0 };
  for (let r = 0; r < rounds; r++) {
    const order = (["local", "s3", "cluster"] as const).map(
      (_, i, all) => all[(i + r) % all.length] as (typeof all)[number],
    );
    for (const which of order) {
      let run: Run;
      if (which === "cluster") {
        const sampler = sampleTrees(Object.fromEntries(live(c).map((w) => [w.name, w.pid])));
        run = await clusterJob(c, keys);
        memory.push(sampler.stop());
      } else {
        const meter = cpuMeter(clusterPids());
        // The S3 server works for the S3 loop: its CPU counts on that side.
        const s3Meter = cpuMeter(infraPids(c).slice(-1));
        run = await sharpLoop(
          which === "local"
            ? { mode: "local", concurrency, inputs: localInputs, output: outDir }
            : { mode: "s3", concurrency, inputs: keys, output: `bench-out/${r}/`, s3 },
        );
        const s3Cpu = s3Meter.stop();
        if (which === "s3") run = { ...run, cpuSeconds: run.cpuSeconds + s3Cpu };
        if (which === "local") idleCpu = { cpuSeconds: meter.stop(), wallSeconds: run.wallSeconds };
      }
      samples[which].push(run.images / run.wallSeconds);
      perCpu[which].push(run.images / run.cpuSeconds);
      if (run.cpu) cpuByPart.push(run.cpu);
      say(
        `  round ${r + 1} ${which.padEnd(7)} ${(run.images / run.wallSeconds).toFixed(2)} images/s (${run.images} in ${run.wallSeconds.toFixed(1)} s, ${run.cpuSeconds.toFixed(1)} CPU-s)`,
      );
    }
  }
  const ips = { local: median(samples.local), s3: median(samples.s3), cluster: median(samples.cluster) };
  const ipc = { local: median(perCpu.local), s3: median(perCpu.s3), cluster: median(perCpu.cluster) };
  const throughput = {
    what: "photo corpus, WebP at the default quality (EXIF orientation applied), the engine's encoder settings on both sides",
    images: keys.length,
    concurrency,
    workers: 2,
    slotsPerWorker,
    rounds,
    imagesPerSecond: { cluster: round(ips.cluster), sharpLocal: round(ips.local), sharpS3: round(ips.s3) },
    samples,
    ratioVsLocal: round(ips.cluster / ips.local),
    ratioVsS3: round(ips.cluster / ips.s3),
    goals: { vsLocal: 0.85, vsS3: 0.95 },
    imagesPerCpuSecond: { cluster: round(ipc.cluster), sharpLocal: round(ipc.local), sharpS3: round(ipc.s3) },
    cpuSamples: perCpu,
    clusterCpuSecondsByPart: cpuByPart,
    cpuRatioVsLocal: round(ipc.cluster / ipc.local),
    cpuRatioVsS3: round(ipc.cluster / ipc.s3),
    cpuWhat:
      "CPU seconds of every process doing the work: the loop's (all its threads; plus the S3 server's for the S3 loop) against the cluster's (coordinator, gateway, workers with engine children, NATS, S3 server)",
    idleClusterCpuDuringLocalLoop: procAvailable
      ? { cpuSeconds: round(idleCpu.cpuSeconds, 2), wallSeconds: round(idleCpu.wallSeconds, 2) }
      : "unavailable",
  };
  results.throughput = throughput;
  const job = `${slotsPerWorker === 1 ? "2 workers × 1 slot" : `2 workers × ${slotsPerWorker} slots`}, photo corpus × ${repeat} (${keys.length} images) → WebP, median of ${rounds} round(s)`;
  figures.push(
    {
      figure: `Cluster throughput, ${job}, vs a plain sharp loop at concurrency ${concurrency} on local files`,
      value: `${fixed(ips.cluster)} images/s`,
      baseline: `${fixed(ips.local)} images/s`,
      ratio: fixed(throughput.ratioVsLocal),
      goal: goalMet(throughput.ratioVsLocal, throughput.goals.vsLocal),
    },
    {
      figure: "the same, vs the sharp loop reading from and writing to the same S3 server",
      value: `${fixed(ips.cluster)} images/s`,
      baseline: `${fixed(ips.s3)} images/s`,
      ratio: fixed(throughput.ratioVsS3),
      goal: goalMet(throughput.ratioVsS3, throughput.goals.vsS3),
    },
    {
      figure: "the same per CPU-second (every process that did the work), vs local / vs S3 loop",
      value: `${fixed(ipc.cluster)} images/CPU-s`,
      baseline: `${fixed(ipc.local)} / ${fixed(ipc.s3)}`,
      ratio: `${fixed(throughput.cpuRatioVsLocal)} / ${fixed(throughput.cpuRatioVsS3)}`,
      goal: "(no goal)",
    },
  );
  if (cpuByPart.length > 0) {
    const perImageMs = (part: string) =>
      Math.round((median(cpuByPart.map((run) => run[part] ?? 0)) * 1000) / keys.length);
    figures.push({
      figure: "Cluster CPU per image by process (median over the rounds)",
      value: ["engineChildren", "workerProcesses", "coordinator", "s3", "gateway", "nats"]
        .map((part) => `${part} ${perImageMs(part)} ms`)
        .join(", "),
    });
  }
  say(
    `throughput: cluster ${ips.cluster.toFixed(2)} images/s; sharp loop local ${ips.local.toFixed(2)}, S3 ${ips.s3.toFixed(2)}; ` +
      `ratio vs local ${throughput.ratioVsLocal} (goal ≥ 0.85), vs S3 ${throughput.ratioVsS3} (goal ≥ 0.95); ` +
      `per CPU-second: vs local ${throughput.cpuRatioVsLocal}, vs S3 ${throughput.cpuRatioVsS3}`,
  );

  // 2. Memory: the highest of each worker over the rounds.
  const perWorker: Record<string, { peakTreeMiB: number; peakProcessMiB: number }> = {};
  for (const round_ of memory) {
    for (const [name, m] of Object.entries(round_)) {
      const was = perWorker[name] ?? { peakTreeMiB: 0, peakProcessMiB: 0 };
      perWorker[name] = {
        peakTreeMiB: Math.max(was.peakTreeMiB, Math.round(m.peakTreeBytes / MiB)),
        peakProcessMiB: Math.max(was.peakProcessMiB, Math.round(Math.max(0, ...m.peakProcessBytes) / MiB)),
      };
    }
  }
  results.memory = procAvailable
    ? {
        what: "peak resident memory of each worker with its engine children (summed, sampled every 100 ms) during the throughput jobs; peakProcessMiB is the largest single process (VmHWM)",
        slotsPerWorker,
        workers: perWorker,
        mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? "unset",
      }
    : "unavailable (no /proc)";
  say(`memory: ${JSON.stringify(perWorker)}`);
  if (procAvailable) {
    const peaks = Object.values(perWorker);
    figures.push({
      figure: `Peak RSS per worker (${slotsPerWorker} slot(s), engine children included) during the throughput jobs`,
      value: `${Math.max(...peaks.map((p) => p.peakTreeMiB))} MiB (largest single process ${Math.max(...peaks.map((p) => p.peakProcessMiB))} MiB)`,
    });
  }

  // 3. Scheduling overhead: the real workers leave, a no-op worker takes their place.
  await Promise.all(live(c).map((w) => w.stop()));
  await untilWorkers(c, 0);
  const lanes = 16;
  const noop = await startNoopWorker({
    natsUrl: c.addresses.nats,
    coordinatorUrl: c.addresses.coordinator,
    id: "bench-noop",
    auth: { nats: c.nats.credentials("worker"), token: c.credentials.mint({ role: "worker", sub: "bench-noop" }) },
    lanes,
    slots: lanes,
  });
  await untilWorkers(c, 1);
  const tiny =
    (await uploadFixtures(c.storage, [{ name: "tiny.jpg", body: Buffer.from([0xff]) }])).uploads[0]?.key ?? "";
  // One chunk at a time, the worker idle and waiting: the round trip itself.
  for (let i = 0; i < latencyChunks; i++) {
    const seen = noop.timings.length;
    await c.jobs.submitJob({ sources: [uploadSource(tiny)] });
    while (noop.timings.length === seen) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const single = noop.timings.slice(-latencyChunks);
  // Under load: one job of `loadItems` items, chunked as the coordinator chooses (at least 4 chunks per live
  // slot, so up to 4 × lanes items make one-item chunks; more make bigger ones). What it made is recorded.
  const loadFixtures = Array.from({ length: loadItems }, (_, i) => ({
    name: `t${i}.jpg`,
    body: Buffer.from([i & 0xff]),
  }));
  const { prefix: loadPrefix } = await uploadFixtures(c.storage, loadFixtures, { concurrency: 16 });
  const before = noop.timings.length;
  const loadCpu = cpuMeter([c.coordinator.pid]);
  const loadStarted = performance.now();
  const { job: loadJob } = await c.jobs.submitJob({
    sources: [{ kind: { case: "s3Prefix", value: { prefix: loadPrefix } } }],
  });
  const loadDone = await waitForJob(c.jobs, loadJob?.id ?? "", { timeoutMs: 600_000, intervalMs: 20 });
  // The job ends with its last report; the last chunks' completes and acks follow.
  await untilCount(() => noop.timings.length - before, loadDone.chunkCount);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const loadCoordinatorCpu = loadCpu.stop();
  const loaded = noop.timings.slice(before);
  // Capacity: a bigger job, chunked as the coordinator chooses; items per second end to end.
  const capacityFixtures = Array.from({ length: capacityItems }, (_, i) => ({
    name: `c${i}.jpg`,
    body: Buffer.from([i & 0xff]),
  }));
  const { prefix: capacityPrefix } = await uploadFixtures(c.storage, capacityFixtures, { concurrency: 16 });
  const capacityBefore = noop.timings.length;
  const capacityCpu = cpuMeter([c.coordinator.pid]);
  const capacityStarted = performance.now();
  const { job: capacityJob } = await c.jobs.submitJob({
    sources: [{ kind: { case: "s3Prefix", value: { prefix: capacityPrefix } } }],
  });
  const capacityDone = await waitForJob(c.jobs, capacityJob?.id ?? "", { timeoutMs: 600_000, intervalMs: 20 });
  await untilCount(() => noop.timings.length - capacityBefore, capacityDone.chunkCount);
  const capacitySeconds = (performance.now() - capacityStarted) / 1000;
  const capacityCoordinatorCpu = capacityCpu.stop();
  await noop.stop();
  await untilWorkers(c, 0);
  results.scheduling = {
    what: "a no-op worker (bench/lib/noop-worker.ts) speaking the worker protocol; round trip = publish → pull → ClaimChunk → ReportItem per item → CompleteChunk → confirmed ack",
    oneAtATime: {
      what: "one single-item job at a time, the worker idle: its one ReportItem also ends the job (report objects in S3, final event)",
      chunks: single.length,
      roundTripMs: spread(single, (t) => t.roundTripMs),
      pullToAckMs: spread(single, (t) => t.serviceMs),
      claimMs: spread(single, (t) => t.claimMs),
      reportMs: spread(single, (t) => t.reportMs),
      completeMs: spread(single, (t) => t.completeMs),
      ackMs: spread(single, (t) => t.ackMs),
    },
    underLoad: {
      lanes,
      chunks: loaded.length,
      items: loadItems,
      itemsPerChunk: round(loadItems / Math.max(1, loaded.length), 2),
      chunksPerSecond: round(loaded.length / loadSeconds, 1),
      roundTripMs: spread(loaded, (t) => t.roundTripMs),
      pullToAckMs: spread(loaded, (t) => t.serviceMs),
      reportMs: spread(loaded, (t) => t.reportMs),
      jobSeconds: round(loadSeconds, 2),
      // CPU time does not depend on what else the machine runs: the coordinator's cost itself.
      coordinatorCpuMsPerChunk: procAvailable ? round((loadCoordinatorCpu * 1000) / loaded.length, 2) : "unavailable",
    },
    capacity: {
      items: capacityItems,
      chunks: capacityDone.chunkCount,
      itemsPerSecond: round(capacityItems / capacitySeconds, 1),
      jobSeconds: round(capacitySeconds, 2),
      coordinatorCpuMsPerItem: procAvailable
        ? round((capacityCoordinatorCpu * 1000) / capacityItems, 2)
        : "unavailable",
    },
  };
  say(`scheduling: ${JSON.stringify(results.scheduling)}`);
  const ms = (x: { median: number; p99: number }) => `median ${x.median} ms, p99 ${x.p99} ms`;
  const one = spread(single, (t) => t.roundTripMs);
  figures.push(
    {
      figure: `Chunk round trip, one chunk at a time (${single.length} chunks; publish → pull → claim → report → complete → confirmed ack)`,
      value: `${ms(one)} (claim ${spread(single, (t) => t.claimMs).median}, report ${spread(single, (t) => t.reportMs).median}, complete ${spread(single, (t) => t.completeMs).median}, ack ${spread(single, (t) => t.ackMs).median} ms medians)`,
    },
    {
      figure: `Chunks/s under load (${lanes} no-op lanes; a ${loadItems}-item job the coordinator cut into ${loaded.length} chunks)`,
      value: `${fixed(loaded.length / loadSeconds, 1)} chunks/s (round trip ${ms(spread(loaded, (t) => t.roundTripMs))}, queueing included; pull → ack median ${spread(loaded, (t) => t.serviceMs).median} ms)`,
    },
    {
      figure: `Coordinator capacity (${capacityItems}-item job, ${capacityDone.chunkCount} chunks, no-op worker)`,
      value: `${fixed(capacityItems / capacitySeconds, 1)} items/s${procAvailable ? `, ${fixed((capacityCoordinatorCpu * 1000) / capacityItems)} ms coordinator CPU per item` : ""}`,
    },
  );

  // 4. Scaling: one-slot workers, 1, 2, 4, 8 of them, the same job each time.
  const scaled: { workers: number; imagesPerSecond: number; efficiency: number; imagesPerCpuSecond: number }[] = [];
  const added: Service[] = [];
  for (const n of scaling) {
    // One slot and one libvips thread each: a worker is one core's worth, however many share the machine.
    while (added.length < n) added.push(await c.addWorker({ IMGC_WORKER_SLOTS: "1", VIPS_CONCURRENCY: "1" }));
    await untilWorkers(c, n);
    const run = await clusterJob(c, keys);
    const ips1 = scaled[0] ? scaled[0].imagesPerSecond / (scaled[0].workers || 1) : run.images / run.wallSeconds / n;
    const perSecond = run.images / run.wallSeconds;
    scaled.push({
      workers: n,
      imagesPerSecond: round(perSecond),
      efficiency: round(perSecond / (n * ips1)),
      imagesPerCpuSecond: round(run.images / run.cpuSeconds),
    });
    say(
      `  scaling ${n} worker(s): ${perSecond.toFixed(2)} images/s, efficiency ${(perSecond / (n * ips1)).toFixed(2)}, ${(run.images / run.cpuSeconds).toFixed(2)} images/CPU-s`,
    );
  }
  results.scaling = {
    what: "the throughput job with N one-slot workers; efficiency = images/s ÷ (N × images/s of 1 worker); images per CPU-second shows the cost per image as workers are added",
    rows: scaled,
    note:
      cores < 16
        ? `this machine has ${cores} cores: figures above ${cores} workers measure contention for ${cores} cores, not scaling (the goal needs ≥ 16 cores)`
        : "",
  };
  figures.push({
    figure: `Scaling, the same job with one-slot workers: ${scaled.map((row) => row.workers).join(" / ")}`,
    value: `${scaled.map((row) => fixed(row.imagesPerSecond)).join(" / ")} images/s`,
    baseline: "linear",
    ratio: `efficiency ${scaled.map((row) => fixed(row.efficiency)).join(" / ")}`,
    goal: cores < 16 ? `not meaningful above ${cores} workers on ${cores} cores` : "",
  });
} finally {
  await c.stop();
}

say(
  `wrote ${writeResults({
    bench: "cluster",
    command,
    machine,
    options: { repeat, rounds, scaling, latencyChunks, loadItems, capacityItems, quick, concurrency, slotsPerWorker },
    figures,
    details: results,
  })}`,
);
// 5. The control plane's own figures (bench/control-plane.ts), with the same --quick.
execFileSync(process.execPath, ["--import", "tsx", "bench/control-plane.ts", ...(quick ? ["--quick"] : [])], {
  cwd: repoRoot,
  stdio: "inherit",
});
// Clients of the harness keep sockets a moment; the work is done.
process.exit(0);
