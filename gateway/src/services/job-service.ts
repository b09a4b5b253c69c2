/**
 * The public `imgc.v1.JobService`.
 *
 * Uploads are served here (the gateway owns the upload limit and streams bytes to S3); everything else is
 * forwarded to the coordinator with the caller's tenant in `x-imgc-tenant`. The coordinator's ConnectErrors
 * reach the caller with their code and message unchanged; a failure to reach the coordinator becomes
 * Unavailable, and anything unexpected Internal, without detail.
 */
import type { CallOptions, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Logger, leaderHint, sleep } from "@imgc/common";
import { type JobEvent, type JobService, TENANT_HEADER, type UploadImageRequest } from "@imgc/proto";
import type { CallerSlots } from "../limits/caller-slots.js";
import { callerKey, tenantKey } from "../plugins/auth.js";
import type { CoordinatorJobService } from "./coordinator.js";
import type { Uploads } from "./uploads.js";

export interface JobServiceDeps {
  coordinator: CoordinatorJobService;
  uploads: Uploads;
  log: Logger;
  /** WatchJob streams per caller at once; unlimited without it. */
  watches?: CallerSlots;
}

/** Maps a failure of a coordinator call onto what the caller may see. */
export function relayError(err: unknown, log: Logger, method: string): ConnectError {
  if (err instanceof ConnectError) {
    // An error the coordinator answered with has no cause; one raised by our own transport (connection
    // refused, reset, ...) carries the Node error, whose message names internal hosts. So does a follower's
    // refusal (the leader's address): no leader within the failover time is the cluster being unavailable.
    if (err.cause === undefined && leaderHint(err) === undefined) {
      return new ConnectError(err.rawMessage, err.code);
    }
    if (err.code === Code.Canceled || err.code === Code.DeadlineExceeded)
      return new ConnectError(err.rawMessage, err.code);
    log.warn({ err: err.message, method }, "coordinator unreachable");
    return new ConnectError("the coordinator is unavailable, try again later", Code.Unavailable);
  }
  log.error({ err, method }, "coordinator call failed unexpectedly");
  return new ConnectError("internal error", Code.Internal);
}

export function createJobService({
  coordinator,
  uploads,
  log,
  watches,
}: JobServiceDeps): ServiceImpl<typeof JobService> {
  function forwarded(context: HandlerContext): CallOptions {
    const options: CallOptions = {
      headers: { [TENANT_HEADER]: context.values.get(tenantKey) },
      signal: context.signal,
    };
    const timeoutMs = context.timeoutMs();
    if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;
    return options;
  }

  async function unary<R>(method: string, call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (err) {
      throw relayError(err, log, method);
    }
  }

  return {
    async createUploads(request, context) {
      return { slots: await uploads.presign(context.values.get(tenantKey), request.files) };
    },

    async uploadImage(requests, context) {
      const messages = requests[Symbol.asyncIterator]();
      const first = await messages.next();
      const header = first.done ? undefined : first.value.part.case === "header" ? first.value.part.value : undefined;
      if (header === undefined) {
        throw new ConnectError("the first message must be the header (name and size)", Code.InvalidArgument);
      }
      const stored = await uploads.put(
        context.values.get(tenantKey),
        { name: header.name, size: Number(header.size), contentType: header.contentType },
        dataChunks(messages),
      );
      return { key: stored.key, size: BigInt(stored.size) };
    },

    submitJob: (request, context) => unary("SubmitJob", () => coordinator.submitJob(request, forwarded(context))),
    getJob: (request, context) => unary("GetJob", () => coordinator.getJob(request, forwarded(context))),
    listJobs: (request, context) => unary("ListJobs", () => coordinator.listJobs(request, forwarded(context))),
    cancelJob: (request, context) => unary("CancelJob", () => coordinator.cancelJob(request, forwarded(context))),
    getResults: (request, context) => unary("GetResults", () => coordinator.getResults(request, forwarded(context))),
    retryJob: (request, context) => unary("RetryJob", () => coordinator.retryJob(request, forwarded(context))),
    deleteJob: (request, context) => unary("DeleteJob", () => coordinator.deleteJob(request, forwarded(context))),

    /**
     * Relayed from any coordinator; when the one serving it dies or steps down mid-stream, the stream goes on
     * from another, after the last event this caller saw, so the caller sees every event once and only a pause.
     */
    async *watchJob(request, context) {
      const release = watches ? watches.acquire(context.values.get(callerKey)) : () => {};
      if (release === undefined) {
        throw new ConnectError(
          "too many WatchJob streams open for this API key; close one first",
          Code.ResourceExhausted,
        );
      }
      let after = request.afterSequence;
      let failures = 0;
      try {
        for (;;) {
          try {
            for await (const response of coordinator.watchJob(
              { ...request, afterSequence: after },
              forwarded(context),
            )) {
              failures = 0;
              if (response.event) after = response.event.sequence;
              yield response;
              if (response.event && isFinal(response.event)) return;
            }
            // A coordinator ends its streams when it stops: one that ends before the job did goes on elsewhere.
            const { job } = await coordinator.getJob({ jobId: request.jobId }, forwarded(context));
            if (job?.finishedAt) return;
          } catch (err) {
            const transient = err instanceof ConnectError && err.code === Code.Unavailable;
            if (!transient || context.signal.aborted || ++failures > WATCH_RETRIES) {
              throw relayError(err, log, "WatchJob");
            }
            await sleep(Math.min(2_000, 100 * 2 ** failures));
          }
          if (context.signal.aborted) return;
        }
      } finally {
        release();
      }
    },
  };
}

/** How many times in a row a WatchJob stream is resumed on another coordinator before the caller is told. */
const WATCH_RETRIES = 8;

/** The job's last event: only an ended job has finished_at. */
function isFinal(event: JobEvent): boolean {
  return event.kind.case === "job" && !!event.kind.value.finishedAt;
}

/** The data messages after the header, as bytes. */
async function* dataChunks(messages: AsyncIterator<UploadImageRequest>): AsyncGenerator<Uint8Array> {
  for (let next = await messages.next(); !next.done; next = await messages.next()) {
    const { part } = next.value;
    if (part.case === "chunk") yield part.value;
    else if (part.case === "header") {
      throw new ConnectError("only the first message may carry the header", Code.InvalidArgument);
    }
  }
}
