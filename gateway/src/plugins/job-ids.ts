/**
 * Job ids are checked at the edge, before anything is forwarded: an id of any other shape names no job, so it
 * is NotFound like a job that does not exist (or is another tenant's), and its message quotes only a short,
 * escaped prefix. A 10 KB id echoed whole made the coordinator's answer too large for gRPC metadata, and a
 * 100 KB one, forwarded as is, stalled the call until a keepalive ping gave up.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { quoted } from "@imgc/common";
import { isJobId, JOB_ID_PATTERN as JOB_ID } from "@imgc/proto";

/** The job id's shape as a JSON-schema pattern, for the HTTP routes' schemas (one rule: @imgc/proto's). */
export const JOB_ID_PATTERN = JOB_ID.source;

export function jobNotFound(id: string): ConnectError {
  return new ConnectError(`job ${quoted(id)} not found`, Code.NotFound);
}

export function checkJobId(id: string): void {
  if (!isJobId(id)) throw jobNotFound(id);
}

/** Refuses any RPC whose request names a job id of the wrong shape (GetJob, WatchJob, CancelJob, …). */
export function checkJobIds(): Interceptor {
  return (next) => async (request) => {
    if (!request.stream) {
      const { jobId } = request.message as { jobId?: unknown };
      if (typeof jobId === "string") checkJobId(jobId);
    }
    return next(request);
  };
}
