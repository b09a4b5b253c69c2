/**
 * A job's results for the plain HTTP routes: the coordinator's GetResults pages, forwarded with the caller's
 * tenant, read one page at a time as the response is written. The first page is read before anything is
 * sent, so an unknown job (or another tenant's) is still a clean 404.
 */

import type { Logger } from "@imgc/common";
import { type ItemResult, type Job, TENANT_HEADER } from "@imgc/proto";
import type { CoordinatorJobService } from "./coordinator.js";
import { relayError } from "./job-service.js";

/** The coordinator's largest page. */
const PAGE_SIZE = 1_000;

export interface JobResults {
  /** The job, as the first page saw it. */
  job: Job | undefined;
  /** Every item, in item order (items without a result yet are PENDING or RUNNING). */
  results: AsyncIterable<ItemResult>;
}

export type OpenResults = (tenant: string, jobId: string, signal: AbortSignal) => Promise<JobResults>;

export function createResultsReader({
  coordinator,
  log,
}: {
  coordinator: CoordinatorJobService;
  log: Logger;
}): OpenResults {
  return async (tenant, jobId, signal) => {
    const page = async (pageToken: string) => {
      try {
        return await coordinator.getResults(
          { jobId, pageSize: PAGE_SIZE, pageToken },
          { headers: { [TENANT_HEADER]: tenant }, signal },
        );
      } catch (err) {
        throw relayError(err, log, "GetResults");
      }
    };
    const first = await page("");
    async function* results(): AsyncGenerator<ItemResult> {
      for (let current = first; ; current = await page(current.nextPageToken)) {
        yield* current.results;
        if (current.nextPageToken === "") return;
      }
    }
    return { job: first.job, results: results() };
  };
}
