/**
 * A child process we own: its output is split into lines (kept in memory, appended to a log file, passed to
 * a callback), readiness is a line it prints, and stopping it is SIGTERM, then SIGKILL after a grace period.
 *
 * Shared by the test harness and `npm run up`. Every child is the leader of its own process group, so a
 * terminal's Ctrl-C reaches only the supervisor (which stops children in order) and a final SIGKILL also
 * reaches grandchildren (tsx's esbuild service). Children still running when the supervisor exits are
 * killed on its way out, whatever made it exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import path from "node:path";
import readline from "node:readline";

export interface ProcessSpec {
  /** A short name for messages and log prefixes: "nats", "worker-1". */
  name: string;
  command: string;
  args: readonly string[];
  /** The child's whole environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every line of stdout and stderr is appended here. */
  logFile?: string;
  /** Called with every line of stdout and stderr, in order. */
  onLine?: (line: string) => void;
  /** Lines kept in memory for `lines()`; the log file has them all. */
  keepLines?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string | undefined;
  /** Resolves when the process has exited and its output has been read. */
  readonly exited: Promise<Exit>;
  running(): boolean;
  /** The latest lines of output. */
  lines(): readonly string[];
  /** Resolves with the first line (already printed or to come) that matches; rejects on exit or timeout. */
  waitForLine(match: (line: string) => boolean, what: string, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL to the whole process group after `graceMs`. Resolves with how it exited. */
  stop(graceMs?: number): Promise<Exit>;
  /** Sends a signal to the process (not its group). */
  kill(signal?: NodeJS.Signals): void;
  /** The log file and the last lines, for error messages. */
  describe(lastLines?: number): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; process.kill is.
  process.on("exit", () => {
    for (const child of live) killGroup(child, "SIGKILL");
  });
}

/** Kills every child still running, at once. For a supervisor that is about to exit without waiting. */
export function killAllNow(): void {
  for (const child of live) killGroup(child, "SIGKILL");
}

let signalCleanupInstalled = false;

/**
 * For supervisors without signal handlers of their own (test workers): a SIGINT, SIGTERM or SIGHUP kills
 * the children, then takes its default course. Without this a Ctrl-C would leave them running, since they
 * sit in process groups of their own and node skips 'exit' handlers when a signal ends it.
 */
export function killChildrenOnSignals(): void {
  if (signalCleanupInstalled) return;
  signalCleanupInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = () => {
      killAllNow();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

export function startProcess(spec: ProcessSpec): ManagedProcess {
  installExitHook();
  const keep = spec.keepLines ?? 20_000;
  const buffer: string[] = [];
  let log: WriteStream | undefined;
  if (spec.logFile) {
    mkdirSync(path.dirname(spec.logFile), { recursive: true });
    log = createWriteStream(spec.logFile, { flags: "a" });
  }
  const child = spawn(spec.command, [...spec.args], {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT as an 'error' event; swallow it and fail here, synchronously and readably.
    child.once("error", () => {});
    throw new Error(`could not start ${spec.name}: ${spec.command} ${spec.args.join(" ")}`);
  }
  live.add(child);
  const pid = child.pid;
  const listeners = new Set<(line: string) => void>();

  const onLine = (line: string) => {
    buffer.push(line);
    if (buffer.length > keep) buffer.splice(0, buffer.length - keep);
    log?.write(`${line}\n`);
    spec.onLine?.(line);
    for (const listener of listeners) listener(line);
  };
  const readers = [child.stdout, child.stderr].map((stream) => {
    const rl = readline.createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on("line", onLine);
    return new Promise<void>((resolve) => rl.once("close", resolve));
  });

  let exitInfo: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      // A grandchild may hold the pipes open; do not wait for it forever.
      const drained = Promise.race([Promise.all(readers), new Promise((r) => setTimeout(r, 1_000))]);
      void drained.then(() => {
        // Whatever is left of the group (tsx's esbuild service) goes with its parent.
        killGroup(child, "SIGKILL");
        if (log) log.end(() => resolve({ code, signal }));
        else resolve({ code, signal });
      });
    });
    child.once("error", (err) => {
      onLine(`[${spec.name}] ${err.message}`);
    });
  });

  const describe = (lastLines = 30) => {
    const tail = buffer.slice(-lastLines).join("\n");
    const where = spec.logFile ? `log: ${spec.logFile}` : "no log file";
    return `${spec.name} (pid ${pid}, ${where})${tail ? `, last lines:\n${tail}` : ""}`;
  };

  const running = () => exitInfo === undefined;

  return {
    name: spec.name,
    pid,
    logFile: spec.logFile,
    exited,
    running,
    lines: () => buffer,
    describe,

    waitForLine(match, what, timeoutMs) {
      const seen = buffer.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = (line: string) => {
          if (!match(line)) return;
          done();
          resolve(line);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${spec.name} did not ${what} within ${timeoutMs} ms; ${describe()}`));
        }, timeoutMs);
        listeners.add(listener);
        void exited.then((exit) => {
          if (!listeners.has(listener)) return;
          done();
          reject(
            new Error(
              `${spec.name} exited (code ${exit.code}, signal ${exit.signal}) before it would ${what}; ${describe()}`,
            ),
          );
        });
      });
    },

    async stop(graceMs = 5_000) {
      if (!running()) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },

    kill(signal = "SIGKILL") {
      if (running()) child.kill(signal);
    },
  };
}

/** True when a line is pino's (or the S3 server's) JSON `{"msg":"ready"}`. */
export function isReadyLine(line: string): boolean {
  if (!line.startsWith("{")) return false;
  try {
    return (JSON.parse(line) as { msg?: unknown }).msg === "ready";
  } catch {
    return false;
  }
}
