import {
  ConfigError,
  int,
  loadConfig,
  logFields,
  metricsFields,
  natsFields,
  s3Fields,
  str,
  topologyFields,
  verifierFields,
} from "@imgc/common";
import { MAX_RETENTION_DAYS } from "@imgc/proto";

const MiB = 1024 * 1024;

export const coordinatorSchema = {
  ...natsFields,
  ...s3Fields,
  ...logFields,
  ...verifierFields,
  ...metricsFields,
  ...topologyFields,
  host: str("IMGC_COORDINATOR_HOST", "127.0.0.1", "gRPC listen host"),
  port: int("IMGC_COORDINATOR_PORT", 50051, 0, 65535, "gRPC listen port (0 picks a free one)"),
  httpPort: int(
    "IMGC_COORDINATOR_HTTP_PORT",
    9464,
    0,
    65535,
    "HTTP port of /metrics, /healthz and /readyz on the gRPC host (0 picks a free one)",
  ),
  coordinatorId: str(
    "IMGC_COORDINATOR_ID",
    "",
    "this coordinator's id among several (default: host, pid and a random suffix)",
  ),
  advertise: str(
    "IMGC_COORDINATOR_ADVERTISE",
    "",
    "host:port where workers and gateways reach this coordinator, told to them by followers (default: the listen host and port)",
  ),
  leaseMs: int(
    "IMGC_LEASE_MS",
    5_000,
    500,
    60_000,
    "leadership lease: a dead leader is replaced within this time (plus one follower poll)",
  ),
  workerTimeoutMs: int(
    "IMGC_WORKER_TIMEOUT_MS",
    6_000,
    500,
    600_000,
    "a heartbeat older than this: the worker is gone",
  ),
  chunkMaxItems: int("IMGC_CHUNK_MAX_ITEMS", 16, 1, 10_000, "the most items in one chunk"),
  chunkMaxBytes: int("IMGC_CHUNK_MAX_BYTES", 32 * MiB, 1, 2 ** 40, "the most source bytes in one chunk"),
  chunkMinCount: int("IMGC_CHUNK_MIN_COUNT", 8, 1, 1_000, "a job of few items is spread over this many chunks"),
  jobMaxItems: int("IMGC_JOB_MAX_ITEMS", 100_000, 1, 10_000_000, "the most items one job may have"),
  fetchAllow: str(
    "IMGC_FETCH_ALLOW",
    "",
    "hosts, host:port, IPs, CIDRs or URL prefixes fetched even when loopback, link-local or private (comma-separated)",
  ),
  fetchAllowedHosts: str(
    "IMGC_FETCH_ALLOWED_HOSTS",
    "",
    "when set, only URLs on these hosts, host:port, *.suffix or URL prefixes are fetched at all (comma-separated)",
  ),
  fetchPorts: str(
    "IMGC_FETCH_PORTS",
    "80,443",
    "the ports fetched URLs may name (comma-separated); others only from a host:port or URL prefix the allow lists name",
  ),
  fetchMaxConcurrent: int(
    "IMGC_FETCH_MAX_CONCURRENT",
    32,
    1,
    10_000,
    "fetches (manifests, images, webhooks) in flight at once across the coordinator",
  ),
  tenantMaxOpenJobs: int(
    "IMGC_TENANT_MAX_OPEN_JOBS",
    100,
    0,
    1_000_000,
    "jobs one tenant may have open (not yet ended); 0 means no limit",
  ),
  tenantMaxOpenItems: int(
    "IMGC_TENANT_MAX_OPEN_ITEMS",
    1_000_000,
    0,
    1_000_000_000,
    "images one tenant may have still to do across its open jobs; 0 means no limit",
  ),
  sourceReaders: str(
    "IMGC_SOURCE_READERS",
    "",
    "internal-service identities whose jobs may read outside their tenant's folders and other buckets (comma-separated)",
  ),
  fetchMaxBytes: int("IMGC_FETCH_MAX_BYTES", 64 * MiB, 1, 2 ** 40, "the most bytes of one fetched manifest or image"),
  fetchTimeoutMs: int("IMGC_FETCH_TIMEOUT_MS", 15_000, 100, 600_000, "the most time one URL fetch may take"),
  webhookSecret: str("IMGC_WEBHOOK_SECRET", "", "the HMAC-SHA256 key webhooks are signed with"),
  webhookSecrets: str(
    "IMGC_WEBHOOK_SECRETS",
    "",
    "per-tenant webhook keys, tenant:secret,... (over IMGC_WEBHOOK_SECRET)",
  ),
  webhookMaxAttempts: int("IMGC_WEBHOOK_MAX_ATTEMPTS", 6, 1, 20, "webhook attempts, at least 1 s, 2 s, 4 s … apart"),
  retentionDays: int(
    "IMGC_RETENTION_DAYS",
    30,
    0,
    MAX_RETENTION_DAYS,
    "days an ended job, its outputs, report and uploads are kept before they are deleted (a job's retention_days overrides it); 0 keeps them forever",
  ),
  retentionDaysByTenant: str(
    "IMGC_RETENTION_DAYS_BY_TENANT",
    "",
    "per-tenant retention over IMGC_RETENTION_DAYS, tenant:days,... (0 keeps that tenant's jobs forever)",
  ),
  retentionSweepMs: int(
    "IMGC_RETENTION_SWEEP_MS",
    60_000,
    100,
    86_400_000,
    "how often the leader deletes the jobs whose retention has run out",
  ),
  retentionDayMs: int(
    "IMGC_RETENTION_DAY_MS",
    86_400_000,
    1,
    86_400_000,
    "the length of a retention day in milliseconds (tests shorten it; leave it alone otherwise)",
  ),
  urlTtlS: int("IMGC_DOWNLOAD_URL_TTL_S", 3_600, 60, 7 * 24 * 3600, "lifetime of presigned download URLs"),
};

export function loadCoordinatorConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(coordinatorSchema, env);
}

/** The chunk-sizing knobs, as the scheduler takes them. */
export interface ChunkLimits {
  maxItems: number;
  maxBytes: number;
  minCount: number;
}

/** IMGC_FETCH_PORTS as port numbers; anything else is a ConfigError naming the entry. */
export function fetchPortList(raw: string): number[] {
  const problems: string[] = [];
  const ports = listOf(raw).map((entry, index) => {
    const port = /^\d{1,5}$/.test(entry) ? Number(entry) : 0;
    if (port < 1 || port > 65_535) {
      problems.push(
        `Expected a port between 1 and 65535 for entry ${index + 1} of IMGC_FETCH_PORTS but received ${JSON.stringify(entry.slice(0, 16))}`,
      );
    }
    return port;
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return ports;
}

/** IMGC_RETENTION_DAYS_BY_TENANT as days by tenant; anything else is a ConfigError naming the entry. */
export function retentionByTenant(raw: string): Map<string, number> {
  const problems: string[] = [];
  const days = new Map<string, number>();
  listOf(raw).forEach((entry, index) => {
    const match = /^([^:\s]+)\s*:\s*(\d{1,4})$/.exec(entry);
    const value = match ? Number(match[2]) : -1;
    if (!match || value > MAX_RETENTION_DAYS) {
      problems.push(
        `Expected tenant:days with days between 0 and ${MAX_RETENTION_DAYS} for entry ${index + 1} of IMGC_RETENTION_DAYS_BY_TENANT but received ${JSON.stringify(entry.slice(0, 40))}`,
      );
    } else days.set(match[1] as string, value);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return days;
}

/** A comma-separated list, empty entries dropped. */
export function listOf(raw: string): string[] {
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}
