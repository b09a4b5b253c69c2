/** Following jobs from tests: wait for the end, read every result. */
import { type Client, type Code, ConnectError } from "@connectrpc/connect";
import { type ItemResult, type Job, type JobService, JobState } from "@imgc/proto";

export const terminalJobStates: ReadonlySet<JobState> = new Set([
  JobState.COMPLETED,
  JobState.COMPLETED_WITH_ERRORS,
  JobState.FAILED,
  JobState.CANCELLED,
]);

/** Polls GetJob until the job ends; throws with its last known state after `timeoutMs`. */
export async function waitForJob(
  client: Client<typeof JobService>,
  jobId: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Job> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last: Job | undefined;
  for (;;) {
    const { job } = await client.getJob({ jobId });
    last = job;
    if (job && terminalJobStates.has(job.state)) return job;
    if (Date.now() > deadline) {
      const counts = last?.counts;
      throw new Error(
        `job ${jobId} did not end within ${options.timeoutMs ?? 120_000} ms: state ${JobState[last?.state ?? 0]}, ` +
          `counts ${JSON.stringify(counts ? { ...counts, $typeName: undefined } : null)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

/** Every item result of a job, following GetResults' pages. */
export async function allResults(
  client: Client<typeof JobService>,
  jobId: string,
  options: { includeUrls?: boolean } = {},
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  let pageToken = "";
  for (let page = 0; page < 10_000; page++) {
    const response = await client.getResults({
      jobId,
      pageSize: 1000,
      pageToken,
      includeUrls: options.includeUrls ?? false,
    });
    results.push(...response.results);
    pageToken = response.nextPageToken;
    if (!pageToken) return results;
  }
  throw new Error(`GetResults for ${jobId} never ended its pages`);
}

/** The code a call failed with, or "ok": for tables of what each caller may do. */
export async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
