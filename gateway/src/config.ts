/**
 * The gateway's configuration: every `IMGC_*` variable it reads, validated once at start.
 *
 * API keys and CORS origins are lists with their own grammar, so they are read as strings by `loadConfig`
 * and checked here; every bad value of either kind ends up in the same `ConfigError`.
 */
import {
  addresses,
  bool,
  ConfigError,
  type ConfigOf,
  callerFields,
  int,
  loadConfig,
  logFields,
  natsFields,
  s3Fields,
  str,
} from "@imgc/common";
import { isTenant, TENANT_RULE } from "@imgc/proto";

const MiB = 1024 * 1024;

export const gatewaySchema = {
  ...natsFields,
  ...s3Fields,
  ...logFields,
  ...callerFields,
  host: str("IMGC_GATEWAY_HOST", "127.0.0.1", "HTTP/1.1 listen host (Connect, gRPC-Web, uploads, web client)"),
  port: int("IMGC_GATEWAY_PORT", 8080, 0, 65535, "HTTP/1.1 listen port"),
  grpcPort: int("IMGC_GATEWAY_GRPC_PORT", 8081, 0, 65535, "HTTP/2 cleartext gRPC listen port"),
  coordinatorUrl: addresses(
    "IMGC_COORDINATOR_URL",
    "127.0.0.1:50051",
    "every coordinator's gRPC host:port, comma-separated (the leader is found from any)",
  ),
  // An upload is one presigned PUT (see common/src/storage.ts), and S3 caps a single PUT at 5 GiB.
  maxUploadBytes: int("IMGC_MAX_UPLOAD_BYTES", 64 * MiB, 1, 5 * 1024 * MiB, "largest accepted upload, in bytes"),
  rateLimitRps: int(
    "IMGC_RATE_LIMIT_RPS",
    50,
    0,
    1_000_000,
    "requests per second per API key (per tenant in dev mode); 0 disables",
  ),
  rateLimitBurst: int("IMGC_RATE_LIMIT_BURST", 100, 0, 1_000_000, "requests a caller may make at once; 0 disables"),
  webDir: str("IMGC_WEB_DIR", "web/dist", "the built web client, served at / when the folder exists"),
  apiKeys: str("IMGC_API_KEYS", "", "comma-separated key:tenant pairs (keys of 16 characters or more)"),
  operatorKeys: str("IMGC_OPERATOR_KEYS", "", "comma-separated operator keys: GET /v1/cluster and GET /metrics"),
  devMode: bool(
    "IMGC_DEV_MODE",
    false,
    'with no IMGC_API_KEYS, serve everyone as tenant "default" (development only); without it the gateway refuses to start keyless',
  ),
  requestTimeoutMs: int(
    "IMGC_REQUEST_TIMEOUT_MS",
    300_000,
    1_000,
    3_600_000,
    "the most time a request (an upload included) may take to arrive; slower ones are cut off",
  ),
  maxZipsPerKey: int("IMGC_MAX_ZIPS_PER_KEY", 2, 1, 1_000, "results.zip downloads one API key may run at once"),
  maxWatchesPerKey: int(
    "IMGC_MAX_WATCHES_PER_KEY",
    16,
    1,
    10_000,
    "WatchJob streams one API key may hold open at once",
  ),
  corsOrigins: str("IMGC_CORS_ORIGINS", "http://localhost:5173", "comma-separated origins allowed by CORS, or *"),
};

export interface GatewayConfig
  extends Omit<ConfigOf<typeof gatewaySchema>, "apiKeys" | "operatorKeys" | "corsOrigins"> {
  /** API key → tenant. Empty only with IMGC_DEV_MODE: every caller is tenant "default". */
  readonly apiKeys: ReadonlyMap<string, string>;
  /** Keys that may read the cluster view and /metrics. */
  readonly operatorKeys: readonly string[];
  /** Origins allowed to call from a browser; "*" allows any. */
  readonly corsOrigins: readonly string[];
}

/** Shorter keys can be guessed; 16 random characters are far beyond it. */
export const MIN_KEY_LENGTH = 16;

/** Parses `key:tenant,key:tenant`. Problems never quote a key: they are secrets. */
export function parseApiKeys(raw: string): { keys: Map<string, string>; problems: string[] } {
  const keys = new Map<string, string>();
  const problems: string[] = [];
  const entries = raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  entries.forEach((entry, index) => {
    const colon = entry.lastIndexOf(":");
    const key = entry.slice(0, colon);
    const tenant = entry.slice(colon + 1);
    if (colon <= 0 || !isTenant(tenant)) {
      problems.push(
        `Expected key:tenant (tenant of ${TENANT_RULE}) for entry ${index + 1} of IMGC_API_KEYS but received ${colon <= 0 ? "no key:tenant pair" : `tenant ${JSON.stringify(tenant)}`}`,
      );
    } else if (key.length < MIN_KEY_LENGTH) {
      problems.push(
        `Expected a key of at least ${MIN_KEY_LENGTH} characters for entry ${index + 1} of IMGC_API_KEYS but received ${key.length}`,
      );
    } else if (keys.has(key)) {
      problems.push(`Expected distinct keys in IMGC_API_KEYS but entry ${index + 1} repeats an earlier key`);
    } else {
      keys.set(key, tenant);
    }
  });
  return { keys, problems };
}

/** Parses IMGC_OPERATOR_KEYS: keys alone, as long as tenant keys, none of them also a tenant's. */
export function parseOperatorKeys(
  raw: string,
  tenantKeys: ReadonlyMap<string, string>,
): { keys: string[]; problems: string[] } {
  const keys: string[] = [];
  const problems: string[] = [];
  raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .forEach((key, index) => {
      if (key.length < MIN_KEY_LENGTH) {
        problems.push(
          `Expected a key of at least ${MIN_KEY_LENGTH} characters for entry ${index + 1} of IMGC_OPERATOR_KEYS but received ${key.length}`,
        );
      } else if (tenantKeys.has(key)) {
        problems.push(`Expected operator keys distinct from IMGC_API_KEYS but entry ${index + 1} is also a tenant's`);
      } else keys.push(key);
    });
  return { keys, problems };
}

export function parseCorsOrigins(raw: string): { origins: string[]; problems: string[] } {
  const origins: string[] = [];
  const problems: string[] = [];
  for (const entry of raw.split(",").map((value) => value.trim())) {
    if (entry === "") continue;
    if (entry === "*") {
      origins.push(entry);
      continue;
    }
    let origin: string | undefined;
    try {
      const parsed = new URL(entry);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") origin = parsed.origin;
    } catch {}
    if (origin === undefined || origin !== entry.replace(/\/$/, "")) {
      problems.push(
        `Expected an origin like https://example.com for IMGC_CORS_ORIGINS but received ${JSON.stringify(entry)}`,
      );
    } else {
      origins.push(origin);
    }
  }
  return { origins, problems };
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  let base: ConfigOf<typeof gatewaySchema> | undefined;
  const problems: string[] = [];
  try {
    base = loadConfig(gatewaySchema, env);
  } catch (err) {
    if (!ConfigError.is(err)) throw err;
    problems.push(...err.problems);
  }
  const apiKeys = parseApiKeys(gatewaySchema.apiKeys.parse(env[gatewaySchema.apiKeys.env]));
  const operators = parseOperatorKeys(
    gatewaySchema.operatorKeys.parse(env[gatewaySchema.operatorKeys.env]),
    apiKeys.keys,
  );
  const cors = parseCorsOrigins(gatewaySchema.corsOrigins.parse(env[gatewaySchema.corsOrigins.env]));
  problems.push(...apiKeys.problems, ...operators.problems, ...cors.problems);
  // Secure by default: a gateway with no keys would serve everyone, so it starts keyless only when told to.
  if (base !== undefined && !base.devMode && apiKeys.keys.size === 0 && apiKeys.problems.length === 0) {
    problems.push(
      'Expected IMGC_API_KEYS (key:tenant,...) but received none; set it, or IMGC_DEV_MODE=1 to serve everyone as tenant "default" (development only)',
    );
  }
  if (base === undefined || problems.length > 0) throw new ConfigError(problems);
  return { ...base, apiKeys: apiKeys.keys, operatorKeys: operators.keys, corsOrigins: cors.origins };
}
