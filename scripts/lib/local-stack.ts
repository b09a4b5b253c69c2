/**
 * The cluster's processes as local children: nats-server, the project's S3 server and the imgc services.
 * `npm run up` and the test harness both start them through here.
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitForPort } from "./free-port.js";
import { isReadyLine, type ManagedProcess, startProcess } from "./managed-process.js";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export type ServiceKind = "coordinator" | "worker" | "gateway";

export interface Output {
  /** Appends every line here. */
  logFile?: string;
  /** Gets every line. */
  onLine?: (line: string) => void;
}

/** nats-server on PATH, or where Debian puts it. */
export function findNatsServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/bin", "/usr/local/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

export interface NatsProcessOptions extends Output {
  port: number;
  storeDir: string;
  name?: string;
  readyTimeoutMs?: number;
  /** A configuration file (users and permissions: nats-auth.ts); the flags above take precedence over it. */
  configFile?: string;
}

/** nats-server with JetStream on loopback; resolves once it accepts connections. */
export async function startNatsProcess(options: NatsProcessOptions): Promise<ManagedProcess> {
  const binary = findNatsServer();
  if (!binary) throw new Error("nats-server is not installed (Debian/Ubuntu: apt-get install -y nats-server)");
  const proc = startProcess({
    name: options.name ?? "nats",
    command: binary,
    args: [
      ...(options.configFile ? ["-c", options.configFile] : []),
      ...["-js", "-sd", options.storeDir, "-a", "127.0.0.1", "-p", String(options.port)],
    ],
    ...output(options),
  });
  try {
    await waitForPort(options.port, "127.0.0.1", options.readyTimeoutMs ?? 15_000, proc.running);
  } catch (err) {
    await proc.stop(1_000);
    throw new Error(`${(err as Error).message}; ${proc.describe()}`);
  }
  return proc;
}

export interface S3ProcessOptions extends Output {
  port: number;
  dir: string;
  name?: string;
  readyTimeoutMs?: number;
}

/** scripts/s3-server.ts (s3rver, bucket imgc, keys S3RVER/S3RVER); resolves on its ready line. */
export async function startS3Process(options: S3ProcessOptions): Promise<ManagedProcess> {
  const proc = startProcess({
    name: options.name ?? "s3",
    command: process.execPath,
    args: ["--import", "tsx", "scripts/s3-server.ts", "--port", String(options.port), "--dir", options.dir],
    cwd: repoRoot,
    env: childEnv({}),
    ...output(options),
  });
  await readyOrStop(proc, options.readyTimeoutMs ?? 30_000);
  return proc;
}

export interface ServiceProcessOptions extends Output {
  /** IMGC_* variables (docs/protocol.md); any IMGC_* of this process's own environment is dropped. */
  env: Record<string, string>;
  name?: string;
  readyTimeoutMs?: number;
}

/** `node --import tsx <kind>/src/main.ts`; resolves on its {"msg":"ready"} log line. */
export async function startServiceProcess(kind: ServiceKind, options: ServiceProcessOptions): Promise<ManagedProcess> {
  const proc = startProcess({
    name: options.name ?? kind,
    command: process.execPath,
    args: ["--import", "tsx", `${kind}/src/main.ts`],
    cwd: repoRoot,
    env: childEnv(options.env),
    ...output(options),
  });
  await readyOrStop(proc, options.readyTimeoutMs ?? 60_000);
  return proc;
}

/**
 * This process's environment without its IMGC_* variables, plus `imgc`: a child configured only as asked.
 * What vitest sets for its workers (VITEST*, TEST, NODE_ENV=test) is dropped too, so that services under
 * test run as they do in production.
 */
export function childEnv(imgc: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("IMGC_") || key.startsWith("VITEST") || (process.env.VITEST && key === "TEST")) continue;
    if (key === "NODE_ENV" && value === "test") continue;
    env[key] = value;
  }
  return { ...env, ...imgc };
}

async function readyOrStop(proc: ManagedProcess, timeoutMs: number): Promise<void> {
  try {
    await proc.waitForLine(isReadyLine, 'log {"msg":"ready"}', timeoutMs);
  } catch (err) {
    await proc.stop(2_000);
    throw err;
  }
}

function output(options: Output): Pick<Output, "logFile" | "onLine"> {
  const out: Pick<Output, "logFile" | "onLine"> = {};
  if (options.logFile !== undefined) out.logFile = options.logFile;
  if (options.onLine !== undefined) out.onLine = options.onLine;
  return out;
}
