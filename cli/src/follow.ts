/**
 * Following a job: WatchJob with a progress display, resumed after the last event seen when the stream
 * breaks (the gateway restarts, the network blips), until the job has ended.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { sleep } from "@imgc/common/retry";
import { isTerminalJobState, type Job, type JobEvent, type JobService } from "@imgc/proto";
import type { Output } from "./context.js";
import { retryAfterMs } from "./rate-limit.js";

export const hasEnded = (job: Job) => isTerminalJobState(job.state);

/** A status line: redrawn in place on a terminal; plain lines otherwise, at most one a second. */
export function createProgress(output: Output, now: () => number = Date.now) {
  let printed = "";
  let pending = "";
  let drawn = false;
  let lastAt = Number.NEGATIVE_INFINITY;
  return {
    update(line: string) {
      pending = line;
      if (output.isTTY) {
        output.write(`\r\x1b[2K${line}`);
        drawn = true;
      } else if (line !== printed && now() - lastAt >= 1000) {
        output.write(`${line}\n`);
        printed = line;
        lastAt = now();
      }
    },
    /** Ends the display with `line` (default: the latest update) left on screen or in the log. */
    finish(line = pending) {
      if (output.isTTY) {
        output.write(`${drawn ? "\r\x1b[2K" : ""}${line}\n`);
        drawn = false;
      } else if (line !== printed) {
        output.write(`${line}\n`);
        printed = line;
      }
    },
  };
}

export interface FollowOptions {
  /** Called with the job each time an event carries it. */
  onJob?: (job: Job) => void;
  /** Called with every event. */
  onEvent?: (event: JobEvent) => void;
  /** Reconnections allowed in a row without a new event. */
  retries?: number;
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE: readonly Code[] = [Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown, Code.Aborted];

/** Streams the job's events until it has ended; returns the job as it ended. */
export async function followJob(
  jobs: Client<typeof JobService>,
  jobId: string,
  { onJob, onEvent, retries = 5, sleep: wait = sleep }: FollowOptions = {},
): Promise<Job> {
  let afterSequence = 0n;
  let failures = 0;
  for (;;) {
    try {
      for await (const { event } of jobs.watchJob({ jobId, afterSequence })) {
        if (!event) continue;
        failures = 0;
        afterSequence = event.sequence;
        onEvent?.(event);
        if (event.kind.case === "job") onJob?.(event.kind.value);
      }
      // The stream ends once the job has ended and every event was sent; read the job back to be sure.
      const { job } = await jobs.getJob({ jobId });
      if (job && hasEnded(job)) {
        onJob?.(job);
        return job;
      }
      throw new ConnectError("the event stream ended before the job did", Code.Unavailable);
    } catch (err) {
      const error = ConnectError.from(err);
      // Over the gateway's rate limit: wait as asked, then resume.
      const asked = retryAfterMs(error);
      if ((asked === undefined && !RETRYABLE.includes(error.code)) || ++failures > retries) throw error;
      await wait(asked ?? Math.min(250 * 2 ** failures, 5_000));
    }
  }
}
