// The control plane's own cost, with no-op workers (bench/lib/noop-worker.ts) that speak the worker protocol and
// do no image work, each figure beside its baselines measured in the same run:
//   1. the one-at-a-time chunk round trip (publish → pull → ClaimChunk → ReportItems{complete} → confirmed ack),
//      against NATS alone (publish → pull → confirmed ack of a bare message on a stream of its own) and against
//      the per-item protocol (ReportItem for each item, then CompleteChunk) on the same coordinator;
//   2. capacity: one job of many items through 16 no-op lanes, items/s and coordinator CPU per item, both
//      protocols;
//   3. the scale simulation: 200 simulated worker slots (10 no-op workers × 20 lanes) on 1 and on 2 coordinators,
//      items/s, coordinator CPU per item (every coordinator's, followers included) and round-trip percentiles.
//
// Usage: npm run bench:control-plane [-- --quick] (also run by npm run bench:cluster)
import { parseArgs } from "node:util";
import { connect } from "nats";
import { type Cluster, startCluster, uploadFixtures, waitForJob } from "../tests/harness/index.js";
import { median, percentile, round, untilCount, untilWorkers } from "./lib/measure.js";
import { type ChunkTiming, startNoopWorker } from "./lib/noop-worker.js";
import { cpuMeter, available as procAvailable } from "./lib/proc-stats.js";
import { commandOf, machineNow, writeResults } from "./lib/results.js";

export interface ControlPlaneOptions {
  quick: boolean;
  say(line: string): void;
}

const spread = (xs: readonly number[]) => ({ median: round(median(xs), 2), p99: round(percentile(xs, 99), 2) });

/** NATS alone: a bare message published, pulled and acked (confirmed), one at a time. */
async function natsRoundTrip(c: Cluster, n: number): Promise<number[]> {
  // As the coordinator's user: a scratch stream of its own is not a worker's to make.
  const nc = await connect({ servers: c.addresses.nats, ...c.nats.credentials("coordinator") });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "BENCH_RTT", subjects: ["bench.rtt"] });
  await jsm.consumers.add("BENCH_RTT", { durable_name: "rtt", ack_policy: "explicit" as never });
  const js = nc.jetstream();
  const consumer = await js.consumers.get("BENCH_RTT", "rtt");
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await js.publish("bench.rtt", new Uint8Array([i & 0xff]));
    const msg = await consumer.next({ expires: 5_000 });
    await msg?.ackAck();
    times.push(performance.now() - started);
  }
  await jsm.streams.delete("BENCH_RTT");
  await nc.close();
  return times;
}

const coordinatorPids = (c: Cluster) => c.coordinators.filter((s) => s.running()).map((s) => s.pid);

/** One job of `items` one-byte sources, run to its end by the no-op workers; items/s and coordinator CPU/item. */
async function capacityRun(c: Cluster, items: number, timings: () => ChunkTiming[]) {
  const fixtures = Array.from({ length: items }, (_, i) => ({ name: `c${i}.jpg`, body: Buffer.from([i & 0xff]) }));
  const { prefix } = await uploadFixtures(c.storage, fixtures, { concurrency: 16 });
  const before = timings().length;
  const accepting = cpuMeter(coordinatorPids(c));
  const started = performance.now();
  const { job } = await c.jobs.submitJob({ sources: [{ kind: { case: "s3Prefix", value: { prefix } } }] });
  // Accepting the job (listing the prefix in S3, writing the job and its chunks) apart from running it.
  const acceptCpu = accepting.stop();
  const running = cpuMeter(coordinatorPids(c));
  const done = await waitForJob(c.jobs, job?.id ?? "", { timeoutMs: 600_000, intervalMs: 20 });
  await untilCount(() => timings().length - before, done.chunkCount);
  const seconds = (performance.now() - started) / 1000;
  const runCpu = running.stop();
  const chunks = timings().slice(before);
  const perItem = (cpuSeconds: number) => (procAvailable ? round((cpuSeconds * 1000) / items, 3) : Number.NaN);
  return {
    items,
    chunks: done.chunkCount,
    itemsPerSecond: round(items / seconds, 1),
    coordinatorCpuMsPerItem: perItem(acceptCpu + runCpu),
    acceptCpuMsPerItem: perItem(acceptCpu),
    runCpuMsPerItem: perItem(runCpu),
    roundTripMs: spread(chunks.map((t) => t.roundTripMs)),
  };
}

async function oneAtATime(c: Cluster, n: number, timings: () => ChunkTiming[]) {
  const tiny = (await uploadFixtures(c.storage, [{ name: "tiny.jpg", body: Buffer.from([0xff]) }])).uploads[0]?.key;
  for (let i = 0; i < n; i++) {
    const seen = timings().length;
    await c.jobs.submitJob({ sources: [{ kind: { case: "uploadKey", value: tiny ?? "" } }] });
    while (timings().length === seen) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const last = timings().slice(-n);
  return {
    chunks: last.length,
    roundTripMs: spread(last.map((t) => t.roundTripMs)),
    claimMs: spread(last.map((t) => t.claimMs)),
    reportMs: spread(last.map((t) => t.reportMs)),
    completeMs: spread(last.map((t) => t.completeMs)),
    ackMs: spread(last.map((t) => t.ackMs)),
  };
}

async function withNoop<T>(
  c: Cluster,
  options: { workers: number; lanes: number; perItem: boolean },
  run: (timings: () => ChunkTiming[]) => Promise<T>,
): Promise<T> {
  const noops = await Promise.all(
    Array.from({ length: options.workers }, (_, i) =>
      startNoopWorker({
        natsUrl: c.addresses.nats,
        coordinatorUrl: c.addresses.coordinatorSlots.join(","),
        id: `bench-noop-${i}`,
        auth: {
          nats: c.nats.credentials("worker"),
          token: c.credentials.mint({ role: "worker", sub: `bench-noop-${i}` }),
        },
        lanes: options.lanes,
        slots: options.lanes,
        perItem: options.perItem,
      }),
    ),
  );
  await untilWorkers(c, options.workers);
  try {
    return await run(() => noops.flatMap((noop) => noop.timings));
  } finally {
    await Promise.all(noops.map((noop) => noop.stop()));
    await untilWorkers(c, 0);
  }
}

const quiet = { IMGC_RATE_LIMIT_RPS: "0", IMGC_CHUNK_MAX_ITEMS: "16" };

export async function runControlPlane(options: ControlPlaneOptions) {
  const { quick, say } = options;
  const latencyChunks = quick ? 20 : 100;
  const capacityItems = quick ? 1_000 : 4_000;
  const simItems = quick ? 2_000 : 10_000;
  const out: Record<string, unknown> = {};

  const c = await startCluster({ workers: 0, coordinators: 1, env: quiet });
  try {
    say("control plane: NATS alone, then the one-at-a-time round trip, both protocols…");
    const nats = await natsRoundTrip(c, latencyChunks);
    const batched = await withNoop(c, { workers: 1, lanes: 16, perItem: false }, async (timings) => ({
      oneAtATime: await oneAtATime(c, latencyChunks, timings),
      capacity: await capacityRun(c, capacityItems, timings),
    }));
    const perItem = await withNoop(c, { workers: 1, lanes: 16, perItem: true }, async (timings) => ({
      oneAtATime: await oneAtATime(c, latencyChunks, timings),
      capacity: await capacityRun(c, capacityItems, timings),
    }));
    out.roundTrip = {
      natsAloneMs: spread(nats),
      batched: batched.oneAtATime,
      perItemProtocol: perItem.oneAtATime,
      ratioToNats: round(batched.oneAtATime.roundTripMs.median / median(nats), 1),
    };
    out.capacity = { batched: batched.capacity, perItemProtocol: perItem.capacity };
    say(`round trip: ${JSON.stringify(out.roundTrip)}`);
    say(`capacity: ${JSON.stringify(out.capacity)}`);
  } finally {
    await c.stop();
  }

  const simulation: Record<string, unknown> = {};
  for (const coordinators of [1, 2]) {
    const sim = await startCluster({ workers: 0, coordinators, env: quiet });
    try {
      say(`scale simulation: 200 slots on ${coordinators} coordinator(s)…`);
      simulation[`coordinators${coordinators}`] = await withNoop(
        sim,
        { workers: 10, lanes: 20, perItem: false },
        (timings) => capacityRun(sim, simItems, timings),
      );
    } finally {
      await sim.stop();
    }
  }
  out.scaleSimulation = { slots: 200, workers: 10, lanesPerWorker: 20, items: simItems, ...simulation };
  say(`scale simulation: ${JSON.stringify(out.scaleSimulation)}`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  const say = (line: string) => console.log(line);
  const machine = machineNow();
  const quick = values.quick === true;
  const results = await runControlPlane({ quick, say });
  const rt = results.roundTrip as {
    natsAloneMs: { median: number; p99: number };
    batched: { roundTripMs: { median: number; p99: number } };
    perItemProtocol: { roundTripMs: { median: number; p99: number } };
  };
  type Capacity = Awaited<ReturnType<typeof capacityRun>>;
  const capacity = results.capacity as { batched: Capacity; perItemProtocol: Capacity };
  const sim = results.scaleSimulation as { coordinators1: Capacity; coordinators2: Capacity; items: number };
  const ms = (x: { median: number; p99: number }) => `median ${x.median} ms, p99 ${x.p99} ms`;
  const cpu = (c: Capacity) =>
    `${c.itemsPerSecond} items/s; coordinator CPU ${c.runCpuMsPerItem} ms/item running + ${c.acceptCpuMsPerItem} accepting`;
  const file = writeResults({
    bench: "control-plane",
    command: commandOf("bench:control-plane"),
    machine,
    options: { quick },
    figures: [
      {
        figure:
          "Chunk round trip, one single-item job at a time (publish → pull → ClaimChunk → ReportItems{complete} → confirmed ack), vs NATS alone (publish → pull → confirmed ack)",
        value: ms(rt.batched.roundTripMs),
        baseline: ms(rt.natsAloneMs),
        ratio: String(round(rt.batched.roundTripMs.median / rt.natsAloneMs.median, 1)),
        goal: `median ≤ 5 ms, p99 ≤ 20 ms ${rt.batched.roundTripMs.median <= 5 && rt.batched.roundTripMs.p99 <= 20 ? "✔" : "✘"}`,
      },
      {
        figure:
          "the same with the per-item protocol (ReportItem per item, then CompleteChunk), on the same coordinator",
        value: ms(rt.perItemProtocol.roundTripMs),
      },
      {
        figure: `Capacity: one ${capacity.batched.items}-item job, 16 no-op lanes, batched reports`,
        value: cpu(capacity.batched),
        baseline: cpu(capacity.perItemProtocol),
        ratio: String(round(capacity.batched.itemsPerSecond / capacity.perItemProtocol.itemsPerSecond, 2)),
        goal: `≥ 3000 items/s, ≤ 0.3 ms CPU/item ${capacity.batched.itemsPerSecond >= 3000 && capacity.batched.coordinatorCpuMsPerItem <= 0.3 ? "✔" : "✘"}`,
      },
      {
        figure: `Scale simulation: 200 worker slots (10 no-op workers × 20), a ${sim.items}-item job, 1 coordinator`,
        value: `${cpu(sim.coordinators1)}; round trip ${ms(sim.coordinators1.roundTripMs)}`,
      },
      {
        figure: "the same on 2 coordinators (one leads; CPU of both)",
        value: `${cpu(sim.coordinators2)}; round trip ${ms(sim.coordinators2.roundTripMs)}`,
      },
    ],
    details: results,
  });
  say(`wrote ${file}`);
}
