import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { type GetResultsRequest, type ItemResultSchema, ItemState, JobService } from "@imgc/proto";
import { expect, test } from "vitest";
import { createResults } from "./results.js";

/** A JobService whose GetResults answers with `results(request)`, and the requests it was asked. */
function answering(results: (request: GetResultsRequest) => MessageInitShape<typeof ItemResultSchema>[]) {
  const asked: GetResultsRequest[] = [];
  const jobs = createClient(
    JobService,
    createRouterTransport(({ service }) =>
      service(JobService, {
        getResults(request) {
          asked.push(request);
          return { results: results(request) };
        },
      }),
    ),
  );
  return { jobs, asked };
}

test("one comparison presigns one item, not every result of the job, and reuses it while fresh", async () => {
  const { jobs, asked } = answering((request) =>
    (request.itemIds.length > 0 ? request.itemIds : ["000000", "000001", "000002"]).map((itemId) => ({
      itemId,
      state: ItemState.DONE,
      downloadUrl: request.includeUrls ? `https://s3/${itemId}` : "",
    })),
  );
  const results = createResults(jobs);
  expect(await results.url("job-1", "000002")).toBe("https://s3/000002");
  expect(asked.map((r) => [r.itemIds, r.includeUrls])).toEqual([[["000002"], true]]);
  expect(await results.url("job-1", "000002")).toBe("https://s3/000002");
  expect(asked).toHaveLength(1);
  // Another job's item is asked for anew.
  await results.url("job-2", "000002");
  expect(asked[1]?.jobId).toBe("job-2");
  // The thumbnails' refresh presigns them all, and comparisons then use those.
  await results.refresh("job-2");
  expect(await results.url("job-2", "000001")).toBe("https://s3/000001");
  expect(asked).toHaveLength(3);
});

test("a comparison without the file asks for that one item's original and output together, and keeps the output", async () => {
  const { jobs, asked } = answering((request) =>
    request.itemIds.map((itemId) => ({
      itemId,
      state: ItemState.DONE,
      downloadUrl: request.includeUrls ? `https://s3/out/${itemId}` : "",
      // A URL source: the cluster has no copy to send.
      sourceUrl: request.includeSourceUrls && itemId !== "000009" ? `https://s3/in/${itemId}` : "",
    })),
  );
  const results = createResults(jobs);
  expect(await results.withOriginal("job-1", "000003")).toEqual({
    output: "https://s3/out/000003",
    original: "https://s3/in/000003",
  });
  expect(asked.map((r) => [r.itemIds, r.includeUrls, r.includeSourceUrls])).toEqual([[["000003"], true, true]]);
  // The output's address came along: a download of that item asks nothing more.
  expect(await results.url("job-1", "000003")).toBe("https://s3/out/000003");
  expect(asked).toHaveLength(1);
  expect(await results.withOriginal("job-1", "000009")).toEqual({ output: "https://s3/out/000009" });
});
