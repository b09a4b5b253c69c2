/**
 * The internal plane's settings, validated once at start: the coordinator's public key(s), each caller's
 * token, NATS credentials, and the one switch that allows running without them.
 *
 * Secure by default: a process that would run open (a coordinator without a public key, a caller without a
 * token, a NATS connection without credentials) refuses to start and names the missing setting, unless
 * IMGC_INSECURE_INTERNAL=1 says, loudly, that this is a development cluster.
 */
import { readFileSync } from "node:fs";
import { ConfigError, INSECURE_INTERNAL, insecureField, str } from "./config.js";
import { createTokenVerifier, parsePublicKeys, type TokenVerifier } from "./internal-auth.js";
import { tlsFields } from "./internal-tls.js";

/** What the coordinator verifies callers with. */
export const verifierFields = {
  ...insecureField,
  authPublicKey: str("IMGC_AUTH_PUBLIC_KEY", "", "PEM Ed25519 public key(s) that sign internal tokens"),
  authPublicKeyFile: str("IMGC_AUTH_PUBLIC_KEY_FILE", "", "file holding IMGC_AUTH_PUBLIC_KEY"),
  ...tlsFields,
};

/** What a caller of the coordinator (worker, gateway, CLI) proves itself with. */
export const callerFields = {
  ...insecureField,
  authToken: str("IMGC_AUTH_TOKEN", "", "this process's internal token (role, subject, tenants)"),
  authTokenFile: str("IMGC_AUTH_TOKEN_FILE", "", "file holding IMGC_AUTH_TOKEN"),
  ...tlsFields,
};

/**
 * What Prometheus proves itself with on the internal HTTP ports (coordinator, workers): `/metrics` names
 * workers, hosts, tenants' volumes and the process, so it answers only `Authorization: Bearer <this>`.
 * `/healthz` and `/readyz` stay open for probes (they say only alive or ready).
 */
export const metricsFields = {
  ...insecureField,
  metricsToken: str("IMGC_METRICS_TOKEN", "", "the bearer credential /metrics requires (Prometheus sends it)"),
  metricsTokenFile: str("IMGC_METRICS_TOKEN_FILE", "", "file holding IMGC_METRICS_TOKEN"),
};

/** The shortest metrics credential accepted: long enough that guessing it is hopeless. */
export const MIN_METRICS_TOKEN_CHARS = 16;

type Fields<T extends Record<string, { parse(raw: string | undefined): unknown }>> = {
  readonly [K in keyof T]: ReturnType<T[K]["parse"]>;
};
export type VerifierConfig = Fields<typeof verifierFields>;
export type CallerConfig = Fields<typeof callerFields>;
export type MetricsConfig = Fields<typeof metricsFields>;

/** The value of a setting given inline or as a file (`<VAR>_FILE`, as Kubernetes and compose mount secrets). */
function inlineOrFile(inline: string, file: string, env: string): string {
  if (inline !== "") return inline;
  if (file === "") return "";
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new ConfigError([
      `Expected a readable file for ${env}_FILE but received ${JSON.stringify(file.slice(0, 200))}`,
    ]);
  }
}

/**
 * The coordinator's token verifier, or undefined when IMGC_INSECURE_INTERNAL=1 and no key is given. Throws
 * ConfigError naming the missing or bad setting.
 */
export function loadVerifier(config: VerifierConfig): TokenVerifier | undefined {
  const pem = inlineOrFile(config.authPublicKey, config.authPublicKeyFile, "IMGC_AUTH_PUBLIC_KEY");
  if (pem === "") {
    if (config.insecureInternal) return undefined;
    throw new ConfigError([
      `IMGC_AUTH_PUBLIC_KEY (or IMGC_AUTH_PUBLIC_KEY_FILE) is not set, so the coordinator would obey any caller: set it, or ${INSECURE_INTERNAL}=1 for a development cluster`,
    ]);
  }
  try {
    if (parsePublicKeys(pem).length === 0) throw new Error("none");
    return createTokenVerifier(pem);
  } catch {
    throw new ConfigError(["Expected PEM Ed25519 public key(s) for IMGC_AUTH_PUBLIC_KEY"]);
  }
}

/** This caller's token, or undefined when IMGC_INSECURE_INTERNAL=1 and none is given. */
export function loadToken(config: CallerConfig, who: string): string | undefined {
  const token = inlineOrFile(config.authToken, config.authTokenFile, "IMGC_AUTH_TOKEN");
  if (token !== "") {
    if (!/^[A-Za-z0-9._-]+$/.test(token)) throw new ConfigError(["Expected an imgc token for IMGC_AUTH_TOKEN"]);
    return token;
  }
  if (config.insecureInternal) return undefined;
  throw new ConfigError([
    `IMGC_AUTH_TOKEN (or IMGC_AUTH_TOKEN_FILE) is not set, so the ${who} cannot prove itself to the coordinator: set it, or ${INSECURE_INTERNAL}=1 for a development cluster`,
  ]);
}

/**
 * The credential /metrics requires, or undefined when IMGC_INSECURE_INTERNAL=1 and none is given (then
 * /metrics is open). Throws ConfigError naming the missing or bad setting.
 */
export function loadMetricsToken(config: MetricsConfig, who: string): string | undefined {
  const token = inlineOrFile(config.metricsToken, config.metricsTokenFile, "IMGC_METRICS_TOKEN");
  if (token === "") {
    if (config.insecureInternal) return undefined;
    throw new ConfigError([
      `IMGC_METRICS_TOKEN (or IMGC_METRICS_TOKEN_FILE) is not set, so the ${who}'s /metrics would answer anyone: set it (Prometheus sends it as a bearer token), or ${INSECURE_INTERNAL}=1 for a development cluster`,
    ]);
  }
  if (token.length < MIN_METRICS_TOKEN_CHARS || /\s/.test(token)) {
    throw new ConfigError([
      `Expected at least ${MIN_METRICS_TOKEN_CHARS} characters and no spaces for IMGC_METRICS_TOKEN but received ${token.length}`,
    ]);
  }
  return token;
}
