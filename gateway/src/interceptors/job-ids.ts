/**
 * Job ids are checked at the edge, before anything is forwarded: an id of any other shape names no job, so it
 * is NotFound like a job that does not exist (or is another tenant's), and its message quotes only a short,
 * escaped prefix. A 10 KB id echoed whole made the coordinator's answer too large for gRPC metadata, and a
 * 100 KB one, forwarded as is, stalled the call until a keepalive ping gave up.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { quoted } from "@imgc/common";

/** The coordinator mints 20 of these characters; the edge takes a little more, so that it never has to change with them. */
export const JOB_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";
const JOB_ID = new RegExp(JOB_ID_PATTERN);

export function jobNotFound(id: string): ConnectError {
  return new ConnectError(`job ${quoted(id)} not found`, Code.NotFound);
}

export function checkJobId(id: string): void {
  if (!JOB_ID.test(id)) throw jobNotFound(id);
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
