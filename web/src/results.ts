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
  /** The download address of one item's output; only that item is presigned again when the one held is old. */
  url(jobId: string, itemId: string): Promise<string | undefined>;
  /**
   * One item's output and original addresses, presigned together (GetResults for that item alone with
   * include_source_urls), for a comparison when the page no longer holds the file. `original` is absent where the
   * cluster holds none to send (a URL source, another bucket's object).
   */
  withOriginal(jobId: string, itemId: string): Promise<{ output?: string; original?: string }>;
  /** Presigns the job's outputs again now (new results arrived). */
  refresh(jobId: string): Promise<ReadonlyMap<string, string>>;
}

export function createResults(jobs: JobClient): Results {
  // The presigned URLs held, of one job: by item, with when each was given.
  let urls: { jobId: string; byItem: Map<string, { url: string; at: number }> } | undefined;

  function held(jobId: string): Map<string, { url: string; at: number }> {
    if (urls?.jobId !== jobId) urls = { jobId, byItem: new Map() };
    return urls.byItem;
  }

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
    const at = Date.now();
    const byItem = held(jobId);
    for (const r of results) if (r.downloadUrl) byItem.set(r.itemId, { url: r.downloadUrl, at });
    return new Map([...byItem].map(([itemId, { url }]) => [itemId, url]));
  }

  return {
    all,
    refresh,
    async withOriginal(jobId, itemId) {
      const { results } = await jobs.getResults({
        jobId,
        itemIds: [itemId],
        includeUrls: true,
        includeSourceUrls: true,
      });
      const result = results.find((r) => r.itemId === itemId);
      if (result?.downloadUrl) held(jobId).set(itemId, { url: result.downloadUrl, at: Date.now() });
      return {
        ...(result?.downloadUrl ? { output: result.downloadUrl } : {}),
        ...(result?.sourceUrl ? { original: result.sourceUrl } : {}),
      };
    },
    async url(jobId, itemId) {
      const known = held(jobId).get(itemId);
      if (known && Date.now() - known.at < urlLifetimeMs) return known.url;
      // Only this item is presigned: opening one comparison in a job of thousands reads one result.
      const { results } = await jobs.getResults({ jobId, itemIds: [itemId], includeUrls: true });
      const url = results.find((r) => r.itemId === itemId)?.downloadUrl;
      if (url) held(jobId).set(itemId, { url, at: Date.now() });
      return url || undefined;
    },
  };
}
