/**
 * How a process proves itself to NATS: user and password, a token, or a credentials file (JWT and nkey),
 * plus TLS when a CA is given. nats.js drops `user:password@` from server URLs, so these are settings of their
 * own (IMGC_NATS_*), checked once at start: without any of them the process refuses to start, unless
 * IMGC_INSECURE_INTERNAL=1.
 */
import { readFileSync } from "node:fs";
import { type ConnectionOptions, credsAuthenticator } from "nats";
import { ConfigError, INSECURE_INTERNAL } from "./config.js";

export interface NatsAuthConfig {
  natsUser: string;
  natsPassword: string;
  natsPasswordFile: string;
  natsToken: string;
  natsCreds: string;
  natsTlsCa: string;
  natsTlsCert: string;
  natsTlsKey: string;
  insecureInternal: boolean;
}

export type NatsAuthOptions = Pick<ConnectionOptions, "user" | "pass" | "token" | "authenticator" | "tls">;

/** The connection options of the configured credentials; throws ConfigError naming what is missing or bad. */
export function natsAuthOptions(config: NatsAuthConfig): NatsAuthOptions {
  const problems: string[] = [];
  const out: NatsAuthOptions = {};
  const ways = [config.natsUser !== "", config.natsToken !== "", config.natsCreds !== ""].filter(Boolean).length;
  if (ways > 1) problems.push("Expected only one of IMGC_NATS_USER, IMGC_NATS_TOKEN and IMGC_NATS_CREDS");
  if (config.natsUser !== "") {
    let password = config.natsPassword;
    if (password === "" && config.natsPasswordFile !== "") {
      try {
        password = readFileSync(config.natsPasswordFile, "utf8").trim();
      } catch {
        problems.push(
          `Expected a readable file for IMGC_NATS_PASSWORD_FILE but received ${JSON.stringify(config.natsPasswordFile.slice(0, 200))}`,
        );
      }
    }
    if (password === "" && problems.length === 0) {
      problems.push("IMGC_NATS_PASSWORD (or IMGC_NATS_PASSWORD_FILE) is not set, but IMGC_NATS_USER is");
    }
    out.user = config.natsUser;
    out.pass = password;
  } else if (config.natsToken !== "") {
    out.token = config.natsToken;
  } else if (config.natsCreds !== "") {
    try {
      out.authenticator = credsAuthenticator(readFileSync(config.natsCreds));
    } catch {
      problems.push(
        `Expected a readable credentials file for IMGC_NATS_CREDS but received ${JSON.stringify(config.natsCreds.slice(0, 200))}`,
      );
    }
  } else if (!config.insecureInternal) {
    problems.push(
      `IMGC_NATS_USER and IMGC_NATS_PASSWORD (or IMGC_NATS_TOKEN, or IMGC_NATS_CREDS) are not set, so NATS would take this process as anyone: set them, or ${INSECURE_INTERNAL}=1 for a development cluster`,
    );
  }
  if ((config.natsTlsCert === "") !== (config.natsTlsKey === "")) {
    problems.push("Expected both IMGC_NATS_TLS_CERT and IMGC_NATS_TLS_KEY, or neither");
  }
  if (config.natsTlsCa !== "" || config.natsTlsCert !== "") {
    out.tls = {
      ...(config.natsTlsCa === "" ? {} : { caFile: config.natsTlsCa }),
      ...(config.natsTlsCert === "" ? {} : { certFile: config.natsTlsCert, keyFile: config.natsTlsKey }),
    };
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
