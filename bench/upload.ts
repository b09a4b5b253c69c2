// Gateway upload throughput against a direct S3 PUT loop at the same concurrency, in the same run: the same
// files PUT to the gateway's `PUT /v1/uploads/:name` (which streams each into S3) and PUT straight into the
// same S3 server, both with Node's http client. Goal: gateway ÷ direct ≥ 0.8 (MB/s).
//
// Usage: npm run bench:upload [-- --concurrency 8 --rounds 2 --quick]
import { randomBytes } from "node:crypto";
import http from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startCluster } from "../tests/harness/index.js";
import { cpuMeter, findProcesses } from "./lib/proc-stats.js";
import { commandOf, type Figure, goalMet, machineNow, writeResults } from "./lib/results.js";

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "8" },
    rounds: { type: "string", default: "2" },
    quick: { type: "boolean", default: false },
  },
});
const machine = machineNow();
const command = commandOf("bench:upload");
const quick = values.quick === true;
const concurrency = Number(values.concurrency);
const rounds = quick ? 1 : Number(values.rounds);
const KiB = 1024;
const MiB = 1024 * KiB;
/** A typical photo and a typical thumbnail-sized image; about 64 MiB per pass each. */
const sizes = quick
  ? [{ bytes: MiB, files: 16 }]
  : [
      { bytes: MiB, files: 64 },
      { bytes: 64 * KiB, files: 512 },
    ];
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Pass {
  seconds: number;
  /** CPU seconds of this process (the client), the gateway and the S3 server during the pass. */
  cpu: { client: number; gateway: number; s3: number };
}

let meters: { gateway: number[]; s3: number[] } = { gateway: [], s3: [] };

// Both sides PUT with Node's http client and kept-alive connections: minio-js, the direct side, runs on it, and
// fetch (undici) spends more of the client's CPU per request, which would count against the gateway.
const agent = new http.Agent({ keepAlive: true });
function put(url: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: "PUT",
      agent,
      headers: { "content-type": "application/octet-stream", "content-length": String(body.length) },
    });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

async function lanes(count: number, run: (index: number) => Promise<void>): Promise<Pass> {
  let next = 0;
  const gateway = cpuMeter(meters.gateway);
  const s3 = cpuMeter(meters.s3);
  const client = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await run(next++);
    }),
  );
  const used = process.cpuUsage(client);
  return {
    seconds: (performance.now() - started) / 1000,
    cpu: { client: (used.user + used.system) / 1e6, gateway: gateway.stop(), s3: s3.stop() },
  };
}

console.log(
  `imgc upload benchmark: ${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(1)}; concurrency ${concurrency}`,
);
// The gateway's per-key rate limit is off: this measures its throughput, not its limits.
const c = await startCluster({ workers: 0, env: { IMGC_RATE_LIMIT_RPS: "0" } });
const rows: unknown[] = [];
const figures: Figure[] = [];
try {
  meters = {
    gateway: [c.gateway.pid],
    s3: findProcesses("scripts/s3-server.ts", "--port", new URL(c.addresses.s3).port),
  };
  for (const size of sizes) {
    const bodies = Array.from({ length: size.files }, () => randomBytes(size.bytes));
    const viaGateway = async (tag: string) =>
      lanes(size.files, async (i) => {
        const answer = await put(`${c.addresses.gatewayHttp}/v1/uploads/${tag}-${i}.bin`, bodies[i] as Buffer);
        if (answer.status !== 200) throw new Error(`gateway upload: HTTP ${answer.status} ${answer.body}`);
      });
    const direct = async (tag: string) =>
      lanes(size.files, async (i) => {
        await c.storage.putBuffer(
          `uploads/default/bench-${tag}/${i}.bin`,
          bodies[i] as Buffer,
          "application/octet-stream",
        );
      });
    // Warm both (connections, JIT), then alternate which goes first.
    await viaGateway("warm");
    await direct("warm");
    const samples = { gateway: [] as number[], direct: [] as number[] };
    const cpu = { gateway: [] as Pass["cpu"][], direct: [] as Pass["cpu"][] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (["gateway", "direct"] as const) : (["direct", "gateway"] as const);
      for (const which of order) {
        const pass = which === "gateway" ? await viaGateway(`r${r}`) : await direct(`r${r}`);
        samples[which].push((size.files * size.bytes) / MiB / pass.seconds);
        cpu[which].push(pass.cpu);
      }
    }
    // CPU milliseconds per file, each side summed over the processes that did its work.
    const perFile = (passes: Pass["cpu"][]) =>
      round(median(passes.map((p) => ((p.client + p.gateway + p.s3) * 1000) / size.files)), 2);
    const gateway = median(samples.gateway);
    const directMBs = median(samples.direct);
    const row = {
      fileBytes: size.bytes,
      files: size.files,
      concurrency,
      rounds,
      mibPerSecond: { gateway: round(gateway, 1), directS3: round(directMBs, 1) },
      filesPerSecond: {
        gateway: round((gateway * MiB) / size.bytes, 1),
        directS3: round((directMBs * MiB) / size.bytes, 1),
      },
      samples,
      ratio: round(gateway / directMBs),
      cpuMsPerFile: { gateway: perFile(cpu.gateway), directS3: perFile(cpu.direct) },
      cpuByProcess: cpu,
      goal: 0.8,
    };
    rows.push(row);
    const label = size.bytes >= MiB ? `${size.bytes / MiB} MiB` : `${size.bytes / KiB} KiB`;
    figures.push({
      figure: `Gateway upload, ${size.files} files of ${label}, concurrency ${concurrency}, median of ${rounds} round(s), vs direct S3 PUT`,
      value: `${row.mibPerSecond.gateway} MiB/s (${row.filesPerSecond.gateway} files/s; ${row.cpuMsPerFile.gateway} CPU-ms per file)`,
      baseline: `${row.mibPerSecond.directS3} MiB/s (${row.filesPerSecond.directS3} files/s; ${row.cpuMsPerFile.directS3} CPU-ms per file)`,
      ratio: row.ratio.toFixed(2),
      goal: goalMet(row.ratio, row.goal),
    });
    console.log(
      `  ${(size.bytes / KiB).toFixed(0)} KiB × ${size.files}: gateway ${gateway.toFixed(1)} MiB/s, direct S3 ${directMBs.toFixed(1)} MiB/s, ratio ${row.ratio} (goal ≥ 0.8); CPU ms per file ${row.cpuMsPerFile.gateway} vs ${row.cpuMsPerFile.directS3}`,
    );
  }
} finally {
  await c.stop();
}

console.log(
  `wrote ${writeResults({
    bench: "upload",
    command,
    machine,
    options: { concurrency, rounds, quick, sizes },
    figures,
    details: {
      what: "PUT /v1/uploads/:name on the gateway (streamed into S3) against PUT straight into the same S3 server (minio client), same files, same concurrency; CPU of the client, the gateway and the S3 server",
      rows,
    },
  })}`,
);
process.exit(0);
