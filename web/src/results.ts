/**
 * A job's results as GetResults pages them, and their presigned download addresses, kept for a few minutes so
 * that comparisons, downloads and thumbnails of the same job share one round of presigning.
 */
import type { ItemResult, Job } from "@imgc/proto";
import type { JobClient } from "./api.js";

/** How long a page of presigned download URLs is trusted before asking again. */
const urlLifetimeMs = 4 * 60_000;

export interface Results {
  /** Every result of the job, all pages. */
  all(jobId: string, includeUrls: boolean): Promise<{ job?: Job; results: ItemResult[] }>;
  /** The download address of one item's output, presigning the job's outputs again when the ones held are old. */
  url(jobId: string, itemId: string): Promise<string | undefined>;
  /** Presigns the job's outputs again now (new results arrived). */
  refresh(jobId: string): Promise<ReadonlyMap<string, string>>;
}

export function createResults(jobs: JobClient): Results {
  let urls: { jobId: string; at: number; byItem: Map<string, string> } | undefined;

  async function all(jobId: string, includeUrls: boolean): Promise<{ job?: Job; results: ItemResult[] }> {
    const results: ItemResult[] = [];
    let job: Job | undefined;
    let pageToken = "";
    do {
      const page = await jobs.getResults({ jobId, pageSize: 1000, pageToken, includeUrls });
      results.push(...page.results);
      job = page.job ?? job;
      pageToken = page.nextPageToken;
    } while (pageToken);
    return job ? { job, results } : { results };
  }

  async function refresh(jobId: string): Promise<ReadonlyMap<string, string>> {
    const { results } = await all(jobId, true);
    urls = {
      jobId,
      at: Date.now(),
      byItem: new Map(results.filter((r) => r.downloadUrl).map((r) => [r.itemId, r.downloadUrl])),
    };
    return urls.byItem;
  }

  return {
    all,
    refresh,
    async url(jobId, itemId) {
      const fresh = urls && urls.jobId === jobId && Date.now() - urls.at < urlLifetimeMs;
      if (fresh && urls?.byItem.has(itemId)) return urls.byItem.get(itemId);
      return (await refresh(jobId)).get(itemId);
    },
  };
}
