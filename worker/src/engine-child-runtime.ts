/**
 * The life of an engine pool's child (engine-pool.ts), whatever its task: it answers each request with the
 * outcome or the ItemError's code and message, one at a time. It has no life of its own: it leaves when the
 * worker closes the channel (or dies), and it ignores the terminal's signals, which the worker handles for the
 * whole process group by draining first.
 */
import { ErrorCode } from "@imgc/proto";
import type { EngineReply, EngineRequest, EngineTask } from "./engine-pool.js";
import { ItemError } from "./item-error.js";

/** What a child does with one request: the outcome, or an ItemError with the item's code. */
export type Handler = (request: EngineRequest) => Promise<Extract<EngineReply, { ok: true }>["outcome"]>;

// A send fails only when the worker is gone: so is the reason to live.
const send = (reply: EngineReply | { ready: true }) =>
  process.send?.(reply, (err: Error | null) => {
    if (err) process.exit(0);
  });

// Each answer carries the child's resident memory, so that the pool can replace a child that grew too large.
async function answer(task: EngineTask, handle: Handler, request: EngineRequest): Promise<EngineReply> {
  try {
    if (request.task !== task) throw new Error(`a ${request.task} request sent to a ${task} child`);
    const outcome = await handle(request);
    return { id: request.id, ok: true, outcome, rss: process.memoryUsage.rss() };
  } catch (err) {
    const rss = process.memoryUsage.rss();
    if (ItemError.is(err)) {
      return { id: request.id, ok: false, code: err.code, message: err.message, rss };
    }
    process.stderr.write(`engine child: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
    return { id: request.id, ok: false, code: ErrorCode.INTERNAL, message: `internal error during ${task}`, rss };
  }
}

/** Serves the pool's requests for `task` with `handle`, and tells the pool it is ready. */
export function serveEngineRequests(task: EngineTask, handle: Handler): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});
  process.on("disconnect", () => process.exit(0));
  process.on("message", (request: EngineRequest) => {
    void answer(task, handle, request).then(send);
  });
  send({ ready: true });
}
