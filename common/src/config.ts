/**
 * Configuration from `IMGC_*` environment variables, validated once at start.
 *
 * Each service declares a schema of fields; `loadConfig` reads them all and throws one `ConfigError` that
 * lists every bad value, in the shape sharp uses: "Expected integer between 1 and 64 for IMGC_WORKER_SLOTS
 * but received 0".
 */

type Env = Record<string, string | undefined>;

export interface Field<T> {
  readonly env: string;
  readonly describe: string;
  parse(raw: string | undefined): T;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  static is(err: unknown): err is ConfigError {
    return err instanceof ConfigError;
  }
}

class FieldError extends Error {}

function expected(what: string, env: string, raw: string): never {
  throw new FieldError(`Expected ${what} for ${env} but received ${JSON.stringify(raw)}`);
}

export function str(env: string, fallback: string, describe = ""): Field<string> {
  return { env, describe, parse: (raw) => (raw === undefined || raw === "" ? fallback : raw) };
}

export function int(env: string, fallback: number, min: number, max: number, describe = ""): Field<number> {
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined || raw === "") return fallback;
      const value = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
        expected(`integer between ${min} and ${max}`, env, raw);
      }
      return value;
    },
  };
}

export function bool(env: string, fallback: boolean, describe = ""): Field<boolean> {
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined || raw === "") return fallback;
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return expected("one of true, false, 1, 0", env, raw);
    },
  };
}

export function oneOf<const T extends string>(
  env: string,
  fallback: T,
  choices: readonly T[],
  describe = "",
): Field<T> {
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined || raw === "") return fallback;
      if (!(choices as readonly string[]).includes(raw)) expected(`one of ${choices.join(", ")}`, env, raw);
      return raw as T;
    },
  };
}

/** A comma-separated list of one or more distinct choices ("compress,detect"), in the order given. */
export function someOf<const T extends string>(
  env: string,
  fallback: readonly T[],
  choices: readonly T[],
  describe = "",
): Field<T[]> {
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined || raw.trim() === "") return [...fallback];
      const list = raw.split(",").map((entry) => entry.trim());
      const known = (entry: string): entry is T => (choices as readonly string[]).includes(entry);
      if (!list.every(known) || new Set(list).size !== list.length) {
        expected(`a comma-separated list of distinct ${choices.join(", ")}`, env, raw);
      }
      return list as T[];
    },
  };
}

export function url(env: string, fallback: string, protocols: readonly string[], describe = ""): Field<string> {
  return {
    env,
    describe,
    parse(raw) {
      const value = raw === undefined || raw === "" ? fallback : raw;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        return expected(`a URL (${protocols.join(", ")})`, env, value);
      }
      if (!protocols.includes(parsed.protocol.replace(/:$/, "")))
        expected(`a URL (${protocols.join(", ")})`, env, value);
      return value.replace(/\/+$/, "");
    },
  };
}

/** One or more host:port, comma-separated (every coordinator, or one DNS name for all). */
export function addresses(env: string, fallback: string, describe = ""): Field<string> {
  return {
    env,
    describe,
    parse(raw) {
      const value = raw === undefined || raw === "" ? fallback : raw;
      const list = value.split(",").map((entry) => entry.trim());
      for (const entry of list) {
        const match = /^(.+):(\d{1,5})$/.exec(entry);
        if (!match || Number(match[2]) > 65535) expected("host:port[,host:port…]", env, value);
      }
      return list.join(",");
    },
  };
}

export type Schema = Record<string, Field<unknown>>;
export type ConfigOf<S extends Schema> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function loadConfig<S extends Schema>(schema: S, env: Env = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    try {
      out[key] = field.parse(env[field.env]);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

export const INSECURE_INTERNAL = "IMGC_INSECURE_INTERNAL";

/** The one switch that lets the internal plane run without credentials (internal-config.ts). */
export const insecureField = {
  insecureInternal: bool(
    INSECURE_INTERNAL,
    false,
    "1: run the internal plane without credentials (development only: anyone who reaches a port may act)",
  ),
};

/** Fields every process reads: where NATS and S3 are, and how loud to log. */
export const natsFields = {
  natsUrl: str("IMGC_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated"),
  // nats.js ignores user:password in URLs, so credentials are settings of their own (nats-connect.ts).
  natsUser: str("IMGC_NATS_USER", "", "NATS user name"),
  natsPassword: str("IMGC_NATS_PASSWORD", "", "NATS password of IMGC_NATS_USER"),
  natsPasswordFile: str("IMGC_NATS_PASSWORD_FILE", "", "file holding IMGC_NATS_PASSWORD"),
  natsToken: str("IMGC_NATS_TOKEN", "", "NATS authorization token"),
  natsCreds: str("IMGC_NATS_CREDS", "", "NATS credentials file (JWT and nkey seed)"),
  natsTlsCa: str("IMGC_NATS_TLS_CA", "", "CA certificate file the NATS server's certificate is checked against"),
  natsTlsCert: str("IMGC_NATS_TLS_CERT", "", "client certificate file for NATS (mutual TLS)"),
  natsTlsKey: str("IMGC_NATS_TLS_KEY", "", "client key file of IMGC_NATS_TLS_CERT"),
  ...insecureField,
};

export const s3Fields = {
  s3Endpoint: url("IMGC_S3_ENDPOINT", "http://127.0.0.1:9000", ["http", "https"], "S3 endpoint"),
  s3PublicEndpoint: str(
    "IMGC_S3_PUBLIC_ENDPOINT",
    "",
    "S3 endpoint as browsers see it (presigned URLs); default IMGC_S3_ENDPOINT",
  ),
  s3AccessKey: str("IMGC_S3_ACCESS_KEY", "S3RVER", "S3 access key"),
  s3SecretKey: str("IMGC_S3_SECRET_KEY", "S3RVER", "S3 secret key"),
  s3Region: str("IMGC_S3_REGION", "us-east-1", "S3 region"),
  s3Bucket: str("IMGC_S3_BUCKET", "imgc", "bucket for uploads/, outputs/ and reports/"),
};

/**
 * The shared NATS topology's timing, which the coordinator and the worker both read: one group, so that the two
 * cannot disagree (each start would otherwise flip the consumers' settings back and forth).
 */
export const topologyFields = {
  ackWaitMs: int("IMGC_ACK_WAIT_MS", 30_000, 1_000, 3_600_000, "JetStream AckWait for chunks"),
  maxDeliver: int("IMGC_MAX_DELIVER", 5, 1, 100, "deliveries of a chunk before its items fail"),
  workerTtlMs: int("IMGC_WORKER_TTL_MS", 10_000, 1_000, 600_000, "max age of a heartbeat in KV imgc-workers"),
};

export const logFields = {
  logLevel: oneOf("IMGC_LOG_LEVEL", "info", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const),
};
