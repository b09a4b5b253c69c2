/**
 * `npm run up`: the whole cluster on this machine, without Docker. nats-server (JetStream, data in
 * .data/nats), the project's S3 server (.data/s3), the coordinator, the workers and the gateway, their logs
 * merged on the terminal (and kept in .data/logs), then a demo job. Ctrl-C stops everything.
 *
 *   npm run up [-- --workers 3] [-- --detectors 1] [-- --coordinators 2] [-- --no-demo]
 *
 * Detection workers (IMGC_WORKER_TASKS=detect, named detector-N) are opt-in: each slot of one holds the model
 * (about 200 MB), and the demo compresses only. They take the worker HTTP ports after the compression workers'.
 *
 * With several coordinators, coordinator N listens on IMGC_COORDINATOR_PORT + N - 1 (HTTP: IMGC_COORDINATOR_HTTP_PORT
 * - N + 1); one leads, and killing it leaves the stack running (docs/reliability.md). Stop it with Ctrl-C, or
 * SIGTERM to this script or to the npm that runs it.
 *
 * Ports are the defaults of docs/protocol.md; the same IMGC_* variables move them (IMGC_NATS_URL,
 * IMGC_S3_ENDPOINT, IMGC_COORDINATOR_PORT, IMGC_COORDINATOR_HTTP_PORT, IMGC_GATEWAY_PORT, IMGC_GATEWAY_GRPC_PORT,
 * and IMGC_WORKER_HTTP_PORT, the first worker's: worker N gets that port + N - 1), and every other IMGC_*
 * variable set here reaches the services as it is.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { createClusterCredentials } from "./lib/cluster-credentials.js";
import { demoImages, runDemo } from "./lib/demo.js";
import {
  repoRoot,
  type ServiceKind,
  startNatsProcess,
  startS3Process,
  startServiceProcess,
} from "./lib/local-stack.js";
import { bold, dim, green, prefixer, red } from "./lib/log-format.js";
import { killAllNow, type ManagedProcess, startProcess } from "./lib/managed-process.js";
import { writeNatsConfig } from "./lib/nats-auth.js";
import { ensureSystemPackage, natsServer } from "./lib/system-packages.js";

const usage = "usage: npm run up [-- --workers N] [-- --detectors N] [-- --coordinators N] [-- --no-demo]";
let values: { workers: string; detectors: string; coordinators: string; "no-demo": boolean; help: boolean };
try {
  ({ values } = parseArgs({
    options: {
      workers: { type: "string", default: "2" },
      detectors: { type: "string", default: "0" },
      coordinators: { type: "string", default: "1" },
      "no-demo": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const workerCount = Number(values.workers);
if (!/^\d+$/.test(values.workers) || workerCount < 1 || workerCount > 32) {
  console.error(`Expected integer between 1 and 32 for --workers but received ${JSON.stringify(values.workers)}`);
  process.exit(2);
}

const detectorCount = Number(values.detectors);
if (!/^\d+$/.test(values.detectors) || detectorCount > 32) {
  console.error(`Expected integer between 0 and 32 for --detectors but received ${JSON.stringify(values.detectors)}`);
  process.exit(2);
}

const coordinatorCount = Number(values.coordinators);
if (!/^\d+$/.test(values.coordinators) || coordinatorCount < 1 || coordinatorCount > 5) {
  console.error(
    `Expected integer between 1 and 5 for --coordinators but received ${JSON.stringify(values.coordinators)}`,
  );
  process.exit(2);
}

const data = path.join(repoRoot, ".data");
const logs = path.join(data, "logs");
const printer = prefixer(Math.max(11, `worker-${workerCount}`.length, `detector-${detectorCount}`.length));
const say = printer("up");

function portOf(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (!raw) return fallback;
  const asUrl = /^[a-z]+:\/\//.test(raw) ? new URL(raw.split(",")[0] ?? raw) : undefined;
  const port = Number(asUrl ? asUrl.port : raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`Expected a port between 1 and 65535 in ${variable} but received ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return port;
}

const ports = {
  nats: portOf("IMGC_NATS_URL", 4222),
  s3: portOf("IMGC_S3_ENDPOINT", 9000),
  coordinator: portOf("IMGC_COORDINATOR_PORT", 50051),
  coordinatorHttp: portOf("IMGC_COORDINATOR_HTTP_PORT", 9464),
  gateway: portOf("IMGC_GATEWAY_PORT", 8080),
  gatewayGrpc: portOf("IMGC_GATEWAY_GRPC_PORT", 8081),
  // Each worker has its own metrics and health port, from this one up.
  workerHttp: portOf("IMGC_WORKER_HTTP_PORT", 9465),
};
const variableOf: Record<keyof typeof ports, string> = {
  nats: "IMGC_NATS_URL",
  s3: "IMGC_S3_ENDPOINT",
  coordinator: "IMGC_COORDINATOR_PORT",
  coordinatorHttp: "IMGC_COORDINATOR_HTTP_PORT",
  gateway: "IMGC_GATEWAY_PORT",
  gatewayGrpc: "IMGC_GATEWAY_GRPC_PORT",
  workerHttp: "IMGC_WORKER_HTTP_PORT",
};
const workerHttpPort = (n: number) => ports.workerHttp + n - 1;
const coordinatorPort = (n: number) => ports.coordinator + n - 1;
const coordinatorHttpPort = (n: number) => ports.coordinatorHttp - n + 1;
const coordinatorName = (n: number) => (coordinatorCount > 1 ? `coordinator-${n}` : "coordinator");

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

// Every process this script started, in start order; stopped in reverse.
const started: { proc: ManagedProcess; core: boolean }[] = [];
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say("stopping…");
    const byLayer = [
      started.filter((s) => ["gateway", "worker"].some((n) => s.proc.name.startsWith(n))),
      started.filter((s) => s.proc.name.startsWith("coordinator")),
      started.filter((s) => s.proc.name === "nats" || s.proc.name === "s3"),
    ];
    for (const layer of byLayer) await Promise.all(layer.map((s) => s.proc.stop(10_000)));
    say("stopped");
  }
  process.exit(code);
}

// npm does not pass a SIGTERM on to the script it runs: when the npm (or shell) that started this script goes away,
// this process is handed to another parent, and that is the signal to stop.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown(0);
}, 500).unref();

let interrupts = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (++interrupts > 1) {
      killAllNow();
      process.exit(130);
    }
    void shutdown(0);
  });
}

function track(proc: ManagedProcess, core: boolean): ManagedProcess {
  started.push({ proc, core });
  void proc.exited.then((exit) => {
    if (stopping) return;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    say(red(`${proc.name} exited (${how}); its log: ${proc.logFile}`));
    // A worker may die and the cluster carries on, and so may a coordinator while another is left (it takes
    // over); without the others there is no cluster.
    const coordinatorsLeft = started.filter((s) => s.proc.name.startsWith("coordinator") && s.proc.running()).length;
    if (core && !(proc.name.startsWith("coordinator") && coordinatorsLeft > 0)) void shutdown(1);
    else if (proc.name.startsWith("coordinator")) say(`${coordinatorsLeft} coordinator(s) left; one of them leads`);
  });
  return proc;
}

/** Waits for every start to end (so that each one that came up is tracked and stopped), then fails on the first failure. */
async function allStarted(starts: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(starts)).find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}

async function buildWebIfMissing(): Promise<void> {
  const web = path.join(repoRoot, "web");
  if (existsSync(path.join(web, "dist", "index.html"))) return;
  const manifest = JSON.parse(readFileSync(path.join(web, "package.json"), "utf8")) as { scripts?: object };
  if (!manifest.scripts || !("build" in manifest.scripts) || !existsSync(path.join(web, "index.html"))) return;
  say("web/dist is missing: building the web client (npm run build -w web)");
  const build = startProcess({
    name: "web build",
    command: "npm",
    args: ["run", "build", "-w", "web"],
    cwd: repoRoot,
    onLine: printer("web"),
    logFile: path.join(logs, "web-build.log"),
  });
  const exit = await build.exited;
  if (exit.code !== 0) say(red("the web client did not build; the gateway serves the API without it"));
}

async function main(): Promise<void> {
  if (!ensureSystemPackage(natsServer, "npm run up", (line) => console.error(line))) process.exit(1);
  const wanted = [
    ...(Object.entries(ports) as [keyof typeof ports, number][]).filter(
      ([name]) => !["workerHttp", "coordinator", "coordinatorHttp"].includes(name),
    ),
    ...Array.from({ length: workerCount + detectorCount }, (_, i) => ["workerHttp", workerHttpPort(i + 1)] as const),
    ...Array.from({ length: coordinatorCount }, (_, i) => ["coordinator", coordinatorPort(i + 1)] as const),
    ...Array.from({ length: coordinatorCount }, (_, i) => ["coordinatorHttp", coordinatorHttpPort(i + 1)] as const),
  ];
  for (const [name, port] of wanted) {
    if (!(await isFree(port))) {
      console.error(
        `Port ${port} (${name}) is in use: another imgc or nats-server may be running. Stop it, or move this one with ${variableOf[name]}.`,
      );
      process.exit(1);
    }
  }
  await buildWebIfMissing();

  const natsUrl = `nats://127.0.0.1:${ports.nats}`;
  const s3Url = `http://127.0.0.1:${ports.s3}`;
  // The user's own IMGC_* settings (log level, slots, …) go through; addresses are ours.
  const userEnv = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("IMGC_") && e[1] !== undefined),
  );
  const env: Record<string, string> = {
    ...userEnv,
    IMGC_NATS_URL: natsUrl,
    IMGC_S3_ENDPOINT: s3Url,
    IMGC_S3_ACCESS_KEY: "S3RVER",
    IMGC_S3_SECRET_KEY: "S3RVER",
    IMGC_S3_BUCKET: "imgc",
    IMGC_COORDINATOR_URL: Array.from(
      { length: coordinatorCount },
      (_, i) => `127.0.0.1:${coordinatorPort(i + 1)}`,
    ).join(","),
    IMGC_COORDINATOR_HOST: "127.0.0.1",
    // A local stack: without keys of your own, the gateway runs in dev mode (every caller is tenant "default").
    ...(userEnv.IMGC_API_KEYS ? {} : { IMGC_DEV_MODE: "1" }),
    IMGC_GATEWAY_HOST: "127.0.0.1",
    IMGC_GATEWAY_PORT: String(ports.gateway),
    IMGC_GATEWAY_GRPC_PORT: String(ports.gatewayGrpc),
  };
  // The internal plane runs secured, as in production: a throwaway signing key and NATS passwords per run,
  // each process given only its own credential. The operator's token is kept for the CLI (`imgc workers`).
  const credentials = createClusterCredentials();
  mkdirSync(data, { recursive: true });
  const natsConfig = writeNatsConfig(path.join(data, "nats-auth.conf"), credentials.nats);
  const operatorTokenFile = path.join(data, "operator.token");
  writeFileSync(operatorTokenFile, `${credentials.operatorToken}\n`, { mode: 0o600 });
  const output = (name: string) => ({ logFile: path.join(logs, `${name}.log`), onLine: printer(name) });
  // nats-server's banner and notices stay in its log file; the terminal gets its warnings and errors.
  const natsPrint = printer("nats");
  const natsOutput = {
    logFile: path.join(logs, "nats.log"),
    onLine: (line: string) => {
      if (/\[(WRN|ERR|FTL)\]|Server is ready/.test(line)) natsPrint(line);
    },
  };
  const service = async (kind: ServiceKind, name: string, extra: Record<string, string> = {}) =>
    track(await startServiceProcess(kind, { name, env: { ...env, ...extra }, ...output(name) }), kind !== "worker");

  await allStarted([
    startNatsProcess({
      port: ports.nats,
      storeDir: path.join(data, "nats"),
      configFile: natsConfig,
      ...natsOutput,
    }).then((p) => track(p, true)),
    startS3Process({ port: ports.s3, dir: path.join(data, "s3"), ...output("s3") }).then((p) => track(p, true)),
  ]);
  // The first one leads from the start; the others follow, warm.
  for (let n = 1; n <= coordinatorCount; n++) {
    await service("coordinator", coordinatorName(n), {
      ...credentials.coordinatorEnv(),
      IMGC_COORDINATOR_ID: coordinatorName(n),
      IMGC_COORDINATOR_PORT: String(coordinatorPort(n)),
      IMGC_COORDINATOR_HTTP_PORT: String(coordinatorHttpPort(n)),
    });
  }
  await allStarted([
    service("gateway", "gateway", credentials.gatewayEnv()),
    ...Array.from({ length: workerCount }, (_, i) =>
      service("worker", `worker-${i + 1}`, {
        ...credentials.workerEnv(`worker-${i + 1}`),
        IMGC_WORKER_ID: `worker-${i + 1}`,
        IMGC_WORKER_HTTP_PORT: String(workerHttpPort(i + 1)),
      }),
    ),
    ...Array.from({ length: detectorCount }, (_, i) =>
      service("worker", `detector-${i + 1}`, {
        ...credentials.workerEnv(`detector-${i + 1}`),
        IMGC_WORKER_ID: `detector-${i + 1}`,
        IMGC_WORKER_TASKS: "detect",
        IMGC_WORKER_HTTP_PORT: String(workerHttpPort(workerCount + i + 1)),
      }),
    ),
  ]);

  const web = `http://127.0.0.1:${ports.gateway}`;
  const grpc = `127.0.0.1:${ports.gatewayGrpc}`;
  const lines = [
    bold(green("imgc is up")),
    `  web client   ${bold(web)}`,
    `  gRPC         ${grpc}  ${dim(`buf curl --protocol grpc --http2-prior-knowledge --schema proto http://${grpc}/imgc.v1.JobService/ListJobs`)}`,
    `  Connect      ${web}/imgc.v1.JobService/<method>`,
    `  coordinator  ${Array.from({ length: coordinatorCount }, (_, i) => `127.0.0.1:${coordinatorPort(i + 1)}`).join(", ")} (internal gRPC${coordinatorCount > 1 ? "; one leads, the others follow" : ""}; callers need a token: IMGC_AUTH_TOKEN=$(cat ${path.relative(process.cwd(), operatorTokenFile) || operatorTokenFile}) npm run imgc -- workers)`,
    `  metrics      http://127.0.0.1:${ports.coordinatorHttp}${coordinatorCount > 1 ? `…${coordinatorHttpPort(coordinatorCount)}` : ""}/metrics and /backlog (coordinator), ${web}/metrics (gateway), http://127.0.0.1:${workerHttpPort(1)}${workerCount + detectorCount > 1 ? `…${workerHttpPort(workerCount + detectorCount)}` : ""}/metrics (workers${detectorCount > 0 ? ", then detectors" : ""}); /healthz and /readyz beside each`,
    `  S3           ${s3Url} (bucket imgc, keys S3RVER/S3RVER; data in .data/s3)`,
    `  NATS         ${natsUrl} (JetStream; data in .data/nats; users and passwords of this run in .data/nats-auth.conf)`,
    `  logs         ${path.relative(process.cwd(), logs) || logs}/`,
    "Ctrl-C stops everything.",
  ];
  for (const line of lines) say(line);

  if (values["no-demo"]) return;
  const demo = printer("demo");
  const { images, from } = await demoImages(repoRoot);
  demo(`compressing ${images.length} images from ${from} through the gateway`);
  try {
    await runDemo(web, images, demo);
  } catch (err) {
    demo(red(`the demo job failed: ${(err as Error).message}`));
  }
}

main().catch(async (err: unknown) => {
  say(red((err as Error).message ?? String(err)));
  await shutdown(1);
});
