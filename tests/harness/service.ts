/** An imgc service (coordinator, worker, gateway) as its own process, the way production starts it. */

import { type ServiceKind, startServiceProcess } from "../../scripts/lib/local-stack.js";
import type { Exit } from "../../scripts/lib/managed-process.js";
import { logPath } from "./run-dir.js";

export type { ServiceKind };

export interface Service {
  readonly kind: ServiceKind;
  /** "coordinator", "worker-1", … */
  readonly name: string;
  readonly pid: number;
  /** The IMGC_* variables it was started with. */
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  /** Resolves when it has exited. */
  readonly exited: Promise<Exit>;
  running(): boolean;
  /** Its output so far, one line per entry. */
  logs(): readonly string[];
  /** Its JSON log lines so far, parsed. */
  jsonLogs(): Record<string, unknown>[];
  /** SIGTERM, then waits for it to exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<Exit>;
  /** Sends a signal (default SIGKILL) and, for SIGKILL, waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServiceOptions {
  name?: string;
  readyTimeoutMs?: number;
}

/** Starts `node --import tsx <kind>/src/main.ts` with exactly `env` as its IMGC_* configuration. */
export async function startService(
  kind: ServiceKind,
  env: Record<string, string>,
  options: ServiceOptions = {},
): Promise<Service> {
  const name = options.name ?? kind;
  const logFile = logPath(name);
  const proc = await startServiceProcess(kind, {
    name,
    env,
    logFile,
    ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
  });
  return {
    kind,
    name,
    pid: proc.pid,
    env: { ...env },
    logFile,
    exited: proc.exited,
    running: proc.running,
    logs: proc.lines,
    jsonLogs: () => proc.lines().flatMap(parseJson),
    stop: (graceMs = 15_000) => proc.stop(graceMs),
    async kill(signal = "SIGKILL") {
      proc.kill(signal);
      if (signal === "SIGKILL") await proc.exited;
    },
  };
}

function parseJson(line: string): Record<string, unknown>[] {
  if (!line.startsWith("{")) return [];
  try {
    return [JSON.parse(line) as Record<string, unknown>];
  } catch {
    return [];
  }
}
