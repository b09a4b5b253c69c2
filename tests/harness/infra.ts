/**
 * The cluster's infrastructure for tests: NATS JetStream and S3, as local processes or containers (see
 * runtime.ts). Each comes with the controls fault tests need: stop, kill with a signal, restart on the same
 * address with the same data.
 */
import path from "node:path";
import { createStorage } from "@imgc/common";
import { freePort } from "../../scripts/lib/free-port.js";
import { startNatsProcess, startS3Process } from "../../scripts/lib/local-stack.js";
import type { ManagedProcess } from "../../scripts/lib/managed-process.js";
import {
  generateNatsUsers,
  type NatsUsers,
  natsAuthorizationConfig,
  natsUserEnv,
  writeNatsConfig,
} from "../../scripts/lib/nats-auth.js";
import { logPath, scratchDir } from "./run-dir.js";
import { testRuntime } from "./runtime.js";

export interface InfraHandle {
  readonly url: string;
  /** The process's log (process runtime only). */
  readonly logFile: string | undefined;
  /** Stops it gracefully (SIGTERM, SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Sends a signal; SIGKILL (the default) resolves once it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port with the same data. */
  restart(): Promise<void>;
}

export interface S3Handle extends InfraHandle {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
}

export interface NatsHandle extends InfraHandle {
  /** Its users (scripts/lib/nats-auth.ts): nobody connects without one. */
  readonly users: NatsUsers;
  /** Connection options of a user (default the coordinator's, which may do anything). */
  credentials(role?: keyof NatsUsers): { user: string; pass: string };
  /** IMGC_NATS_USER and IMGC_NATS_PASSWORD of a user. */
  credentialsEnv(role: keyof NatsUsers): Record<string, string>;
}

/**
 * nats-server with JetStream on a free loopback port (or nats:2.10 in Docker), secured as in production: users
 * with permissions and throwaway passwords (`users`, or new ones).
 */
export async function startNats(options: { storeDir?: string; users?: NatsUsers } = {}): Promise<NatsHandle> {
  const users = options.users ?? generateNatsUsers();
  const credentials = (role: keyof NatsUsers = "coordinator") => ({
    user: users[role].user,
    pass: users[role].password,
  });
  const access = { users, credentials, credentialsEnv: (role: keyof NatsUsers) => natsUserEnv(users[role]) };
  if ((await testRuntime()) === "docker") {
    const { startNatsContainer } = await import("./docker.js");
    return { ...(await startNatsContainer(natsAuthorizationConfig(users), credentials())), ...access };
  }
  const port = await freePort();
  const storeDir = options.storeDir ?? scratchDir("nats");
  const configFile = writeNatsConfig(path.join(scratchDir("nats-config"), "nats.conf"), users);
  const logFile = logPath("nats");
  const start = () => startNatsProcess({ port, storeDir, logFile, configFile });
  return { ...processControls(`nats://127.0.0.1:${port}`, logFile, await start(), start), ...access };
}

/** The project's S3 server on a free loopback port, bucket `imgc` (or MinIO in Docker, bucket created). */
export async function startS3(options: { dir?: string } = {}): Promise<S3Handle> {
  const bucket = "imgc";
  if ((await testRuntime()) === "docker") {
    const { startMinioContainer } = await import("./docker.js");
    const minio = await startMinioContainer(bucket);
    await storageFor(minio).ensureBucket();
    return minio;
  }
  const port = await freePort();
  const dir = options.dir ?? scratchDir("s3");
  const logFile = logPath("s3");
  const start = () => startS3Process({ port, dir, logFile });
  const controls = processControls(`http://127.0.0.1:${port}`, logFile, await start(), start);
  return { ...controls, accessKey: "S3RVER", secretKey: "S3RVER", bucket };
}

/** A storage client (createStorage from @imgc/common) on this S3, for uploads and assertions. */
export function storageFor(s3: S3Handle) {
  return createStorage({
    s3Endpoint: s3.url,
    s3PublicEndpoint: "",
    s3AccessKey: s3.accessKey,
    s3SecretKey: s3.secretKey,
    s3Region: "us-east-1",
    s3Bucket: s3.bucket,
  });
}

function processControls(
  url: string,
  logFile: string,
  first: ManagedProcess,
  start: () => Promise<ManagedProcess>,
): InfraHandle {
  let current = first;
  return {
    url,
    logFile,
    async stop() {
      await current.stop();
    },
    async kill(signal = "SIGKILL") {
      current.kill(signal);
      if (signal === "SIGKILL") await current.exited;
    },
    async restart() {
      await current.stop();
      current = await start();
    },
  };
}
