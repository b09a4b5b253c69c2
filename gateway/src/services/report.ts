/**
 * A job's report, streamed from its GetResults pages as they come: `report.csv` and `report.json`. The rows,
 * totals and CSV are @imgc/proto's (the same as the coordinator's report and `imgc results --csv`); the
 * `report.csv` inside `results.zip` is built from them too, so all agree, for running jobs too.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createReport, csvHeader, csvRow, csvTotals, type ItemResult, type Job, JobState } from "@imgc/proto";

export function jobSummary(job: Job | undefined) {
  const time = (timestamp: Job["createdAt"]) => (timestamp ? timestampDate(timestamp).toISOString() : null);
  return {
    id: job?.id ?? "",
    state: job ? (JobState[job.state] ?? String(job.state)) : "UNSPECIFIED",
    label: job?.label ?? "",
    createdAt: time(job?.createdAt),
    finishedAt: time(job?.finishedAt),
  };
}

/** `report.csv`: the header, a row per item, the totals row; pulled page by page, so memory stays flat. */
export async function* reportCsv(results: AsyncIterable<ItemResult>): AsyncGenerator<string> {
  const report = createReport();
  yield csvHeader();
  for await (const result of results) yield csvRow(report.row(result));
  yield csvTotals(report.totals());
}

/** `report.json`: `{"job":…,"items":[…],"totals":…}`, written as it is read. */
export async function* reportJson(job: Job | undefined, results: AsyncIterable<ItemResult>): AsyncGenerator<string> {
  const report = createReport();
  yield `{"job":${JSON.stringify(jobSummary(job))},"items":[`;
  let first = true;
  for await (const result of results) {
    yield `${first ? "" : ","}\n${JSON.stringify(report.row(result))}`;
    first = false;
  }
  yield `\n],"totals":${JSON.stringify(report.totals())}}\n`;
}
