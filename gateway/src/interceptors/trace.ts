/**
 * Trace context at the edge: each JobService call continues the caller's W3C `traceparent` or starts a
 * trace, answers with it (so a client can quote it), and hands it on to the coordinator in gRPC metadata,
 * where it goes on the job, its chunks and the workers' logs. The call's context lives in AsyncLocalStorage
 * between the server interceptor and the coordinator client's interceptor, so the service code in between
 * needs no change.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Interceptor } from "@connectrpc/connect";
import { childSpan, continueTrace, formatTraceparent, type Logger, TRACEPARENT, type TraceContext } from "@imgc/common";

const current = new AsyncLocalStorage<TraceContext>();

/** Server side: the call runs in its trace context; SubmitJob logs the job id with the trace id. */
export function traceCalls(log: Logger): Interceptor {
  return (next) => async (request) => {
    const context = continueTrace(request.header.get(TRACEPARENT));
    const response = await current.run(context, () => next(request));
    response.header.set(TRACEPARENT, formatTraceparent(context));
    if (!response.stream && request.method.name === "SubmitJob") {
      const job = (response.message as { job?: { id?: string } }).job;
      log.info({ jobId: job?.id, traceId: context.traceId, spanId: context.spanId }, "job submitted");
    }
    return response;
  };
}

/** Client side (the coordinator transport): calls made within a traced call carry it on, as a child span. */
export const propagateTrace: Interceptor = (next) => async (request) => {
  const context = current.getStore();
  if (context && !request.header.has(TRACEPARENT)) {
    request.header.set(TRACEPARENT, formatTraceparent(childSpan(context)));
  }
  return next(request);
};
