/**
 * NATS users with permissions for the cluster's processes, as nats-server's own `authorization` block, and
 * throwaway passwords for them. `npm run up` and the test harness run NATS with this, as production should.
 *
 * - coordinator: everything (it creates the topology and writes job state).
 * - worker: pull chunks from the IMGC_TASKS consumers and ack them, put its heartbeat in KV imgc-workers, read
 *   and write KV imgc-cache (the result cache is the workers' own: they fill it with outputs they wrote and
 *   read it before compressing; they may create its stream, whose TTL is a worker setting), receive
 *   imgc.control.> (its drain subject and the cancel broadcast) and replies on _INBOX.>. Nothing else: no
 *   imgc.tasks.* publishing, no imgc-jobs, imgc-chunks or imgc-results writes, no control messages, no stream
 *   changes.
 * - gateway: nothing at all (it connects only to report NATS in its readiness).
 *
 * nats-server 2.9 (Debian's) checks JetStream API calls as publishes to `$JS.API.…` subjects, so the worker's
 * list names each API call it makes, stream by stream.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";

export interface NatsUser {
  user: string;
  password: string;
}

export interface NatsUsers {
  coordinator: NatsUser;
  worker: NatsUser;
  gateway: NatsUser;
}

export function generateNatsUsers(): NatsUsers {
  const user = (name: string): NatsUser => ({ user: name, password: randomBytes(24).toString("base64url") });
  return { coordinator: user("imgc-coordinator"), worker: user("imgc-worker"), gateway: user("imgc-gateway") };
}

const CACHE = "imgc-cache";
const WORKERS = "imgc-workers";

export const workerPermissions = {
  publish: {
    allow: [
      // jetstreamManager() asks for the account's JetStream info first.
      "$JS.API.INFO",
      "$JS.API.STREAM.INFO.IMGC_TASKS",
      `$JS.API.STREAM.INFO.KV_${WORKERS}`,
      `$JS.API.STREAM.INFO.KV_${CACHE}`,
      `$JS.API.STREAM.CREATE.KV_${CACHE}`,
      "$JS.API.CONSUMER.INFO.IMGC_TASKS.*",
      "$JS.API.CONSUMER.MSG.NEXT.IMGC_TASKS.*",
      // ack, nak, in-progress of delivered chunks.
      "$JS.ACK.IMGC_TASKS.>",
      `$KV.${WORKERS}.>`,
      `$KV.${CACHE}.>`,
      ...[WORKERS, CACHE].flatMap((bucket) => [
        `$JS.API.DIRECT.GET.KV_${bucket}`,
        `$JS.API.DIRECT.GET.KV_${bucket}.>`,
        `$JS.API.STREAM.MSG.GET.KV_${bucket}`,
      ]),
    ],
  },
  subscribe: { allow: ["_INBOX.>", "imgc.control.>"] },
};

const nothing = { publish: { deny: [">"] }, subscribe: { deny: [">"] } };

/** The `authorization { users = [...] }` block of a nats-server configuration. */
export function natsAuthorizationConfig(users: NatsUsers): string {
  const entry = (u: NatsUser, permissions?: object) =>
    `    ${JSON.stringify({ user: u.user, password: u.password, ...(permissions ? { permissions } : {}) })}`;
  return [
    "authorization {",
    "  users = [",
    entry(users.coordinator),
    entry(users.worker, workerPermissions),
    entry(users.gateway, nothing),
    "  ]",
    "}",
    "",
  ].join("\n");
}

/** Writes the configuration, readable by its owner only (it holds the passwords). */
export function writeNatsConfig(file: string, users: NatsUsers): string {
  writeFileSync(file, natsAuthorizationConfig(users), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** The IMGC_* variables that give a process one of these users. */
export function natsUserEnv(user: NatsUser): Record<string, string> {
  return { IMGC_NATS_USER: user.user, IMGC_NATS_PASSWORD: user.password };
}
