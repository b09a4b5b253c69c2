/**
 * The engine in child processes, one per slot, kept warm.
 *
 * Why: sharp's timeout is cooperative. libvips checks it between regions, but a single region can take far
 * longer: a 300-byte SVG whose filter blurs a 4000×4000 canvas renders for over a minute in one librsvg call,
 * holding a thread and a core, after the item's deadline has long passed. In-process, a few such inputs leave
 * a worker that heartbeats and pulls but can no longer compress anything. In a child, the deadline (or a
 * release) kills the child and the core is free at once; and an input that crashes the decoder ends a child,
 * not the worker. A crashed child's image is tried once more in a fresh child (the crash may have been
 * the machine's, an OOM kill), then fails INTERNAL.
 */
import { type ChildProcess, fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { toBinary } from "@bufbuild/protobuf";
import { AbortedError, type Logger } from "@imgc/common";
import {
  type CompressionOptions,
  CompressionOptionsSchema,
  type DetectionOptions,
  DetectionOptionsSchema,
  ErrorCode,
} from "@imgc/proto";
import type { DetectOutcome } from "./detect/detector.js";
import type { CompressOutcome, Engine, EngineLease, Limits } from "./engine.js";
import { ItemError } from "./item-error.js";

/** What a pool's children do: compress (engine-child.ts) or detect objects (detect/detect-child.ts). */
export type EngineTask = "compress" | "detect";

/** Each task's child module, beside this file (scripts/bundle.ts rewrites these literals to .js). */
const childModules: Record<EngineTask, URL> = {
  compress: new URL("./engine-child.ts", import.meta.url),
  detect: new URL("./detect/detect-child.ts", import.meta.url),
};

export interface EngineRequest {
  id: number;
  /** A child refuses a task it was not started for. */
  task: EngineTask;
  input: Uint8Array;
  /** CompressionOptions or DetectionOptions, binary. */
  options: Uint8Array;
  limits: Limits;
}

/** The child's answer to one request, with its resident memory once the image was done (bytes). */
export type EngineReply =
  | { id: number; ok: true; outcome: CompressOutcome | DetectOutcome; rss?: number }
  | { id: number; ok: false; code: ErrorCode; message: string; rss?: number };

export interface EnginePoolOptions {
  /** Children at most: the worker's slots, since each slot compresses one image at a time. */
  size: number;
  log: Logger;
  /** What the children do; compress unless told. */
  task?: EngineTask;
  /** The children's module; by default the task's (childModules). */
  modulePath?: string;
  /** Node flags of the children; this process's own (`--import tsx`). */
  execArgv?: string[];
  /**
   * libvips threads per image in each child: VIPS_CONCURRENCY when set, else the cores shared out among the
   * children, so that `size` images at once use every core without oversubscribing them.
   */
  threads?: number;
  /**
   * Images a child compresses before it is replaced (Celery's max-tasks-per-child); 0 never. libvips and the
   * allocator keep memory they no longer need: a child grows from about 100 MB to 450 MB over a few hundred
   * images and never gives it back. A fresh child costs one start (about a second), paid between images.
   */
  maxItemsPerChild?: number;
  /** A child whose resident memory after an image is above this many bytes is replaced; 0 never. */
  maxRssBytes?: number;
}

/** The libvips threads per child: VIPS_CONCURRENCY, or the cores divided among the children. */
export function threadsPerChild(children: number, env: NodeJS.ProcessEnv = process.env): number {
  const set = Number(env.VIPS_CONCURRENCY);
  if (Number.isInteger(set) && set > 0) return set;
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, children)));
}

export interface EnginePool extends Engine {
  /** Objects in the image; only a pool whose task is detect answers (a compress child refuses: INTERNAL). */
  detect(input: Buffer, options: DetectionOptions, limits: Limits, signal?: AbortSignal): Promise<DetectOutcome>;
  /** Children replaced so far for their item count or memory (not crashes or kills). */
  recycled(): number;
  /** Resolves once a child is up: a worker pulls work only then. */
  ready(signal?: AbortSignal): Promise<void>;
  lease(signal?: AbortSignal): Promise<Required<EngineLease>>;
  /** The children's process ids, for operators and tests. */
  pids(): number[];
  /** Ends every child. */
  close(): Promise<void>;
}

interface Child {
  process: ChildProcess;
  /** Resolves once the child has loaded the engine; rejects if it dies first. */
  ready: Promise<void>;
  isReady: boolean;
  /** Settles the request in flight, if any, when the child exits. */
  onExit?: ((reason: string) => void) | undefined;
  /** Images answered so far. */
  items: number;
  /** Resident memory reported with the last answer, in bytes. */
  rss: number;
}

class Crashed extends Error {}

export function createEnginePool(options: EnginePoolOptions): EnginePool {
  const { log } = options;
  const task = options.task ?? "compress";
  const modulePath = options.modulePath ?? fileURLToPath(childModules[task]);
  const execArgv = options.execArgv ?? process.execArgv;
  const maxItems = options.maxItemsPerChild ?? 0;
  const maxRss = options.maxRssBytes ?? 0;
  let recycled = 0;
  const env = { ...process.env, VIPS_CONCURRENCY: String(options.threads ?? threadsPerChild(options.size)) };
  const all = new Set<Child>();
  /** Children not running an image, ready or still loading the engine. */
  const idle: Child[] = [];
  let nextId = 1;
  let closed = false;
  /** Woken whenever a child becomes ready or idle, or dies. */
  let wake = () => {};
  let changed = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const notify = () => {
    wake();
    changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
  };

  function spawn(): Child {
    const proc = fork(modulePath, [], {
      execArgv,
      env,
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const child: Child = {
      process: proc,
      isReady: false,
      items: 0,
      rss: 0,
      ready: new Promise<void>((resolve, reject) => {
        proc.once("message", () => {
          child.isReady = true;
          resolve();
          notify();
        });
        proc.once("exit", (code, signal) => reject(new Crashed(`exited before it was ready (${signal ?? code})`)));
      }),
    };
    child.ready.catch(() => {});
    // Without a listener, a failed send or kill would be an uncaught 'error' event: the worker's death.
    proc.on("error", (err) => log.warn({ err: err.message, pid: proc.pid }, "engine child error"));
    proc.once("exit", (code, signal) => {
      all.delete(child);
      const at = idle.indexOf(child);
      if (at >= 0) idle.splice(at, 1);
      child.onExit?.(signal ?? `code ${code}`);
      // Replaced at once, so that the next image does not wait for a start. (Only a child that had come up: one
      // that dies while starting is replaced when an image asks, so a broken install cannot spin.)
      if (!closed && child.isReady && all.size < options.size) idle.push(spawn());
      notify();
    });
    all.add(child);
    return child;
  }

  function give(child: Child): void {
    idle.push(child);
    notify();
  }

  /**
   * A ready child, taken out of the idle list; waits for one (starting one where a killed child left room).
   * Only a child that is up is handed out, so that the wait for a start is never part of an image's time.
   */
  async function take(signal?: AbortSignal): Promise<Child> {
    for (;;) {
      if (signal?.aborted) throw new AbortedError("aborted");
      if (closed) throw new Crashed("the engine pool is closed");
      const at = idle.findIndex((child) => child.isReady && child.process.connected);
      if (at >= 0) return idle.splice(at, 1)[0] as Child;
      if (all.size < options.size) idle.push(spawn());
      let onAbort = () => {};
      const aborted = new Promise<void>((resolve) => {
        onAbort = () => resolve();
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      await Promise.race([changed, aborted]);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  function kill(child: Child): void {
    all.delete(child);
    child.process.kill("SIGKILL");
  }

  /** Why a child that just answered should be replaced rather than reused; undefined to reuse it. */
  function worn(child: Child): string | undefined {
    if (maxItems > 0 && child.items >= maxItems) return `it compressed ${child.items} images`;
    if (maxRss > 0 && child.rss > maxRss) {
      return `it holds ${Math.round(child.rss / 1_048_576)} MiB, over ${Math.round(maxRss / 1_048_576)} MiB`;
    }
    return undefined;
  }

  /**
   * Replaces a worn child between images: its successor starts at once, and the old one leaves by itself
   * when its channel closes (it holds no image). The next image waits at most for that one start, and only
   * when no other child is ready.
   */
  function retire(child: Child, why: string): void {
    all.delete(child);
    recycled++;
    log.info(
      { pid: child.process.pid, items: child.items, rssMiB: Math.round(child.rss / 1_048_576) },
      `replacing an engine child: ${why}`,
    );
    try {
      child.process.disconnect();
    } catch {
      child.process.kill("SIGKILL");
    }
    if (!closed && all.size < options.size) idle.push(spawn());
    notify();
  }

  /** One image in one ready child, which goes back to the idle list after unless it died or had to be killed. */
  async function attempt(child: Child, input: Buffer, opts: Uint8Array, limits: Limits, signal?: AbortSignal) {
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    // Given back for the next image unless it died, or was killed because it may still be busy.
    let reusable = true;
    try {
      if (signal?.aborted) throw new AbortedError("aborted");
      return await new Promise<CompressOutcome | DetectOutcome>((resolve, reject) => {
        const id = nextId++;
        const discard = () => {
          reusable = false;
          kill(child);
        };
        const onMessage = (reply: EngineReply) => {
          if (reply.id !== id) return;
          child.process.off("message", onMessage);
          child.items++;
          child.rss = reply.rss ?? 0;
          // The pipeline's own deadline answered, but the libvips call it gave up on may still run in there.
          if (!reply.ok && reply.code === ErrorCode.TIMEOUT) discard();
          if (reply.ok) resolve(reply.outcome);
          else reject(new ItemError(reply.code, reply.message));
        };
        child.process.on("message", onMessage);
        child.onExit = (reason) => {
          reusable = false;
          reject(new Crashed(reason));
        };
        // Killing is the only way to stop a libvips call that does not look at its own timeout.
        onAbort = () => {
          discard();
          reject(new AbortedError("aborted"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        timer = setTimeout(() => {
          discard();
          reject(
            new ItemError(
              ErrorCode.TIMEOUT,
              `Processing the image took longer than the limit of ${limits.timeoutMs} ms`,
            ),
          );
        }, limits.timeoutMs);
        const request: EngineRequest = { id, task, input, options: opts, limits };
        // A child killed a moment ago may still look idle: its closed channel fails the send, not the worker.
        child.process.send(request, (err: Error | null) => {
          if (!err) return;
          discard();
          reject(new Crashed(`its channel is closed (${err.message})`));
        });
      });
    } catch (err) {
      if (err instanceof Crashed) reusable = false;
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      child.onExit = undefined;
      if (reusable && all.has(child) && !closed) {
        const why = worn(child);
        if (why) retire(child, why);
        else give(child);
      }
    }
  }

  /** Resolves once an idle child is ready, starting one where a killed one left room. */
  async function ready(signal?: AbortSignal): Promise<void> {
    give(await take(signal));
  }

  /** One image in `first` (or a child taken now); a crash mid-image is tried once more in another. */
  async function run(first: Child | undefined, input: Buffer, opts: Uint8Array, limits: Limits, signal?: AbortSignal) {
    try {
      return await attempt(first ?? (await take(signal)), input, opts, limits, signal);
    } catch (err) {
      if (!(err instanceof Crashed)) throw err;
      log.warn({ reason: err.message }, `an engine child died during ${task}; trying the image once more`);
    }
    try {
      return await attempt(await take(signal), input, opts, limits, signal);
    } catch (err) {
      if (!(err instanceof Crashed)) throw err;
      log.error({ reason: err.message }, "an engine child died twice on the same image");
      throw new ItemError(
        ErrorCode.INTERNAL,
        `The image decoder crashed on this input twice (${err.message}); it was not processed`,
      );
    }
  }

  /** A ready child for one image (whose start the image's clock does not count), released after. */
  async function lease(signal?: AbortSignal): Promise<Required<EngineLease>> {
    let held: Child | undefined = await take(signal);
    const once = () => {
      const child = held;
      held = undefined;
      return child;
    };
    return {
      async compress(input, compression, limits, imageSignal) {
        const opts = toBinary(CompressionOptionsSchema, compression);
        const outcome = (await run(once(), input, opts, limits, imageSignal)) as CompressOutcome;
        const data = outcome.data as Uint8Array;
        return { ...outcome, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
      },
      async detect(input, detection, limits, imageSignal) {
        const opts = toBinary(DetectionOptionsSchema, detection);
        return (await run(once(), input, opts, limits, imageSignal)) as DetectOutcome;
      },
      release() {
        if (held && all.has(held) && !closed) give(held);
        held = undefined;
      },
    };
  }

  // Warm children up front: a first image should not wait for a child to load sharp.
  for (let i = 0; i < options.size; i++) idle.push(spawn());

  /** A call on a lease taken for it and released after. */
  async function leased<T>(
    signal: AbortSignal | undefined,
    call: (held: Required<EngineLease>) => Promise<T>,
  ): Promise<T> {
    const held = await lease(signal);
    try {
      return await call(held);
    } finally {
      held.release();
    }
  }

  return {
    compress: (input: Buffer, compression: CompressionOptions, limits: Limits, signal?: AbortSignal) =>
      leased(signal, (held) => held.compress(input, compression, limits, signal)),
    detect: (input: Buffer, detection: DetectionOptions, limits: Limits, signal?: AbortSignal) =>
      leased(signal, (held) => held.detect(input, detection, limits, signal)),
    recycled: () => recycled,
    ready,
    lease,
    pids: () => [...all].flatMap((child) => (child.process.pid === undefined ? [] : [child.process.pid])),
    async close() {
      closed = true;
      const exits = [...all].map(
        (child) =>
          new Promise<void>((resolve) =>
            child.process.exitCode !== null ? resolve() : child.process.once("exit", () => resolve()),
          ),
      );
      for (const child of all) {
        try {
          child.process.disconnect();
        } catch {
          // Its channel is closed already: it is on its way out.
        }
      }
      const grace = setTimeout(() => {
        for (const child of all) child.process.kill("SIGKILL");
      }, 2_000);
      await Promise.all(exits);
      clearTimeout(grace);
    },
  };
}
