/**
 * A GetResults page under a filter: the candidates (every item, or the ids named) are read in windows from the
 * cursor on, and only the results kept make the page. A sparse filter over a large job would read the whole job
 * for one page, so one call reads at most `scanMax` candidates and answers a shorter page (even an empty one)
 * with the cursor to go on from.
 */
import type { ItemResult } from "@imgc/proto";

/** Items one GetResults with a states filter reads at most before it answers. */
export const STATE_SCAN_MAX = 10_000;

export interface PageQuery {
  /** Candidates in all. */
  count: number;
  /** The first candidate to read. */
  cursor: number;
  /** Results per page at most. */
  size: number;
  /** Candidates one call reads at most. */
  scanMax: number;
  /** The results of candidates [from, to), in order. */
  read(from: number, to: number): Promise<ItemResult[]>;
  keep(result: ItemResult): boolean;
}

/** The page, and the candidate to go on from (`count` when there are no more). */
export async function filteredPage(query: PageQuery): Promise<{ page: ItemResult[]; next: number }> {
  const { count, size } = query;
  const page: ItemResult[] = [];
  let cursor = query.cursor;
  const scanEnd = cursor + query.scanMax;
  while (page.length < size && cursor < count && cursor < scanEnd) {
    // Never more than the page still needs: the next page starts right after the last candidate read.
    const end = Math.min(count, scanEnd, cursor + size - page.length);
    for (const result of await query.read(cursor, end)) if (query.keep(result)) page.push(result);
    cursor = end;
  }
  return { page, next: cursor };
}
