/**
 * Throwaway credentials for a whole cluster, made at start by `npm run up` and the test harness so that they
 * run the internal plane secured, as production does: an Ed25519 signing key (the coordinator gets only its
 * public half), a token per process (each worker's names its id), NATS users with permissions, and the
 * credential Prometheus scrapes /metrics with.
 */
import { randomBytes } from "node:crypto";
import { generateSigningKeys, type MintOptions, mintToken } from "@imgc/common";
import { generateNatsUsers, type NatsUsers, natsUserEnv } from "./nats-auth.js";

export interface ClusterCredentials {
  /** PEM: IMGC_AUTH_PUBLIC_KEY of the coordinators. */
  publicKey: string;
  nats: NatsUsers;
  /** A token signed with this cluster's key. */
  mint(options: MintOptions): string;
  /** An operator's token (ClusterService reads and drains, read-only JobService), as the CLI uses it. */
  operatorToken: string;
  /** The bearer credential /metrics of coordinators and workers requires (IMGC_METRICS_TOKEN). */
  metricsToken: string;
  /** The IMGC_* credential variables of each kind of process. */
  coordinatorEnv(): Record<string, string>;
  workerEnv(workerId: string): Record<string, string>;
  gatewayEnv(): Record<string, string>;
}

export function createClusterCredentials(): ClusterCredentials {
  const keys = generateSigningKeys();
  const metricsToken = randomBytes(24).toString("base64url");
  const nats = generateNatsUsers();
  const mint = (options: MintOptions) => mintToken(keys.privateKey, options);
  return {
    publicKey: keys.publicKey,
    nats,
    mint,
    operatorToken: mint({ role: "operator", sub: "operator" }),
    metricsToken,
    coordinatorEnv: () => ({
      IMGC_AUTH_PUBLIC_KEY: keys.publicKey,
      IMGC_METRICS_TOKEN: metricsToken,
      ...natsUserEnv(nats.coordinator),
    }),
    workerEnv: (workerId) => ({
      IMGC_AUTH_TOKEN: mint({ role: "worker", sub: workerId }),
      IMGC_METRICS_TOKEN: metricsToken,
      ...natsUserEnv(nats.worker),
    }),
    gatewayEnv: () => ({ IMGC_AUTH_TOKEN: mint({ role: "gateway", sub: "gateway" }), ...natsUserEnv(nats.gateway) }),
  };
}
