/**
 * What `submit` and `retry` print for the job they started: its id (noting an existing one), or with --wait
 * the job followed to its end with a progress bar, exiting like `imgc watch`.
 */
import type { Client } from "@connectrpc/connect";
import { type Job, JobSchema, type JobService, JobState } from "@imgc/proto";
import { ENVIRONMENT_HELP } from "./command.js";
import { type Context, println } from "./context.js";
import { followJob } from "./follow.js";
import { jobLine } from "./format.js";
import { messageJson, printJson } from "./output.js";
import { createProgressBar, jobProgress } from "./progress-bar.js";

/** The end of the help of a command that starts a job. */
export const startedJobHelp = `Output:
  --wait                 follow the job until it ends; exit 0 only if it completed
  --json                 the job as protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`;

export async function reportStarted(
  context: Context,
  jobs: Client<typeof JobService>,
  started: { job?: Job | undefined; created: boolean },
  flags: { wait?: boolean | undefined; json?: boolean | undefined },
  /** Why a job that was not created is the one answered, e.g. "existing job for this idempotency key". */
  existing: string,
): Promise<number> {
  const { job, created } = started;
  if (!job) throw new Error("the server returned no job");
  if (!flags.wait) {
    if (flags.json) printJson(context, { job: messageJson(JobSchema, job), created });
    else println(context.stdout, created ? job.id : `${job.id} (${existing})`);
    return 0;
  }
  if (!flags.json) println(context.stderr, `job ${job.id}${created ? "" : " (existing)"}`);
  const progress = createProgressBar(flags.json ? { write: () => true } : context.stdout, context.env);
  const ended = await followJob(jobs, job.id, { onJob: (next) => progress.update(jobProgress(next)) });
  if (flags.json) printJson(context, { job: messageJson(JobSchema, ended), created });
  else progress.finish(jobLine(ended));
  return ended.state === JobState.COMPLETED ? 0 : 1;
}
