/** The worker's configuration: IMGC_* variables (docs/protocol.md), validated once at start. */
import { randomBytes } from "node:crypto";
import { availableParallelism, hostname } from "node:os";
import {
  addresses,
  ConfigError,
  callerFields,
  int,
  loadConfig,
  logFields,
  metricsFields,
  natsFields,
  s3Fields,
  someOf,
  str,
  TASK_KINDS,
  type TaskKindName,
  topologyFields,
} from "@imgc/common";
import { isWorkerId, WORKER_ID_RULE } from "@imgc/proto";

const MiB = 1024 * 1024;

/** `<host>-<pid>-<random>`, reduced to the characters a worker id may hold. */
export function defaultWorkerId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]+/g, "-")
      .slice(0, 40) || "worker";
  return `${host}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export const workerSchema = {
  ...natsFields,
  ...s3Fields,
  ...logFields,
  ...callerFields,
  ...metricsFields,
  ...topologyFields,
  coordinatorUrl: addresses(
    "IMGC_COORDINATOR_URL",
    "127.0.0.1:50051",
    "every coordinator's gRPC host:port, comma-separated (the leader is found from any)",
  ),
  workerId: str("IMGC_WORKER_ID", "", "the worker's id; default <host>-<pid>-<random>"),
  slots: int(
    "IMGC_WORKER_SLOTS",
    Math.min(64, availableParallelism()),
    1,
    64,
    "chunks run at once; default the core count",
  ),
  tasks: someOf<TaskKindName>(
    "IMGC_WORKER_TASKS",
    ["compress"],
    TASK_KINDS.map((kind) => kind.name),
    "the kinds of work it pulls: compress, detect, or compress,detect",
  ),
  heartbeatMs: int("IMGC_HEARTBEAT_MS", 2_000, 100, 60_000, "heartbeat period"),
  httpHost: str("IMGC_WORKER_HTTP_HOST", "127.0.0.1", "listen host of /metrics, /healthz and /readyz"),
  // Several workers on one host each need their own: 0 picks a free port, which the "ready" line names.
  httpPort: int("IMGC_WORKER_HTTP_PORT", 9465, 0, 65535, "port of /metrics, /healthz and /readyz; 0 picks one"),
  maxInputBytes: int("IMGC_MAX_INPUT_BYTES", 64 * MiB, 1, 2 ** 40, "largest source image, in bytes"),
  maxPixels: int("IMGC_MAX_PIXELS", 100_000_000, 1, 2 ** 40, "most pixels in a source image"),
  maxFrames: int("IMGC_MAX_FRAMES", 500, 1, 100_000, "most animation frames in a source image"),
  engineMaxItems: int(
    "IMGC_ENGINE_MAX_ITEMS",
    100,
    0,
    1_000_000,
    "images an engine child compresses before it is replaced (max-tasks-per-child); 0 never",
  ),
  engineMaxRssMb: int(
    "IMGC_ENGINE_MAX_RSS_MB",
    512,
    0,
    1_048_576,
    "an engine child holding more resident memory than this after an image is replaced; 0 never",
  ),
  itemTimeoutMs: int("IMGC_ITEM_TIMEOUT_MS", 60_000, 100, 3_600_000, "per-item compression timeout"),
  drainTimeoutMs: int("IMGC_DRAIN_TIMEOUT_MS", 30_000, 0, 3_600_000, "how long a drain waits for held chunks"),
  cacheTtlMs: int("IMGC_CACHE_TTL_MS", 7 * 24 * 3600_000, 0, 365 * 24 * 3600_000, "result cache entry life; 0 off"),
};

export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env) {
  let problems: string[] = [];
  let config: ReturnType<typeof loadConfig<typeof workerSchema>> | undefined;
  try {
    config = loadConfig(workerSchema, env);
  } catch (err) {
    if (!ConfigError.is(err)) throw err;
    problems = err.problems;
  }
  const rawId = env.IMGC_WORKER_ID ?? "";
  if (rawId !== "" && !isWorkerId(rawId)) {
    problems.push(`Expected ${WORKER_ID_RULE} for IMGC_WORKER_ID but received ${JSON.stringify(rawId)}`);
  }
  if (problems.length > 0 || !config) throw new ConfigError(problems);
  return { ...config, workerId: config.workerId || defaultWorkerId() };
}
