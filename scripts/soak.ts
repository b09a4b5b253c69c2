/**
 * The long version of the fault suite: a cluster on loopback (nats-server, S3, coordinator, four workers,
 * gateway) runs job after job for a while, and every few seconds something goes wrong — a worker killed,
 * stopped or frozen, the coordinator killed, nats-server killed or restarted, S3 down, an engine child
 * killed. At the end every job must pass the same audit as the suite's (tests/faults/audit.ts): exactly one
 * terminal result and one correct output per image, counters that add up.
 *
 *   node --import tsx scripts/soak.ts [--minutes 10] [--images 500] [--every 15] [--jobs 2]
 *
 * Prints one line per fault and per job, then a JSON summary; exits 1 if any job failed its audit. The logs
 * of every process stay in the run folder it names.
 */
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { auditJob } from "../tests/faults/audit.js";
import {
  type Batch,
  faultTimings,
  faultWorkerEnv,
  smallImages,
  submitBatch,
  uploadBatch,
} from "../tests/faults/fault-kit.js";
import { type Cluster, type Service, startCluster, testRunDir } from "../tests/harness/index.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    images: { type: "string", default: "500" },
    every: { type: "string", default: "15" },
    jobs: { type: "string", default: "2" },
  },
});
const minutes = Number(values.minutes);
const every = Number(values.every) * 1000;
const inFlight = Number(values.jobs);
const ackWaitMs = Number(faultTimings.IMGC_ACK_WAIT_MS);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
const log = (line: string) => process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function engineChildren(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
        return ppid === pid && cmdline.includes("engine-child") ? [Number(name)] : [];
      } catch {
        return [];
      }
    });
}

const running = (c: Cluster): Service[] => c.workers.filter((w) => w.running());

/** Each fault leaves the cluster able to go on: a worker taken away is replaced. */
const faults: Record<string, (c: Cluster) => Promise<string>> = {
  async "worker SIGKILL"(c) {
    const victim = pick(running(c));
    await victim.kill("SIGKILL");
    await c.addWorker();
    return victim.name;
  },
  async "worker SIGTERM"(c) {
    const victim = pick(running(c));
    await victim.kill("SIGTERM");
    await victim.exited;
    await c.addWorker();
    return victim.name;
  },
  async "worker frozen"(c) {
    const victim = pick(running(c));
    await victim.kill("SIGSTOP");
    await sleep(ackWaitMs + 2_000);
    await victim.kill("SIGCONT");
    return victim.name;
  },
  async "coordinator SIGKILL"(c) {
    await c.coordinator.kill("SIGKILL");
    await c.restartCoordinator();
    return "";
  },
  async "nats SIGKILL"(c) {
    await c.nats.kill("SIGKILL");
    await sleep(1_000);
    await c.nats.restart();
    return "";
  },
  async "nats restart"(c) {
    await c.nats.restart();
    return "";
  },
  async "S3 down"(c) {
    const ms = 5_000 + Math.random() * 5_000;
    await c.s3.kill("SIGKILL");
    await sleep(ms);
    await c.s3.restart();
    return `${Math.round(ms)} ms`;
  },
  async "engine child SIGKILL"(c) {
    const worker = pick(running(c));
    const child = engineChildren(worker.pid)[0];
    if (child !== undefined) process.kill(child, "SIGKILL");
    return `${worker.name} pid ${child}`;
  },
};

async function main(): Promise<void> {
  log(`run folder (logs): ${testRunDir()}`);
  const c = await startCluster({ workers: 4, env: faultTimings, workerEnv: faultWorkerEnv });
  const until = Date.now() + minutes * 60_000;
  const injected: { fault: string; detail: string; at: number }[] = [];
  const jobs: string[] = [];
  let batch: Batch;
  try {
    batch = await uploadBatch(c, await smallImages(Number(values.images)));
    log(
      `cluster up, ${batch.uploads.length} images uploaded; soaking for ${minutes} min, a fault every ${every / 1000} s`,
    );

    const chaos = (async () => {
      while (Date.now() + every < until) {
        await sleep(every * (0.5 + Math.random()));
        const fault = pick(Object.keys(faults));
        const at = Date.now();
        try {
          const detail = await (faults[fault] as (c: Cluster) => Promise<string>)(c);
          injected.push({ fault, detail, at });
          log(`fault: ${fault} ${detail} (${Date.now() - at} ms)`);
        } catch (err) {
          log(`fault ${fault} could not be injected: ${(err as Error).message}`);
        }
      }
    })();

    const submitter = async () => {
      while (Date.now() < until) {
        let jobId = "";
        for (let attempt = 1; !jobId; attempt++) {
          try {
            jobId = (await submitBatch(c.jobs, batch)).id;
          } catch (err) {
            // The gateway or the coordinator may be down this very moment: a client retries.
            if (attempt > 30) throw err;
            await sleep(1_000);
          }
        }
        jobs.push(jobId);
        log(`job ${jobId} submitted`);
        for (;;) {
          try {
            const { job } = await c.jobs.getJob({ jobId });
            if (job?.finishedAt) {
              log(`job ${jobId} ended ${job.counts?.done} done, ${job.counts?.failed} failed`);
              break;
            }
          } catch {
            // Down for a moment: ask again.
          }
          await sleep(500);
        }
      }
    };
    await Promise.all([chaos, ...Array.from({ length: inFlight }, submitter)]);

    const audits = [];
    for (const jobId of jobs) {
      const { problems } = await auditJob(c, jobId, batch);
      audits.push({ jobId, problems });
      if (problems.length > 0) log(`job ${jobId} FAILED its audit:\n  ${problems.join("\n  ")}`);
    }
    const failed = audits.filter((a) => a.problems.length > 0);
    const byFault = new Map<string, number>();
    for (const { fault } of injected) byFault.set(fault, (byFault.get(fault) ?? 0) + 1);
    process.stdout.write(
      `${JSON.stringify(
        {
          minutes,
          jobs: jobs.length,
          images: jobs.length * batch.uploads.length,
          faults: Object.fromEntries(byFault),
          jobsFailingAudit: failed.map((a) => a.jobId),
          runFolder: testRunDir(),
        },
        null,
        2,
      )}\n`,
    );
    process.exitCode = failed.length > 0 ? 1 : 0;
  } finally {
    await c.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
