/**
 * The job report written when a job ends: `reports/<tenant>/<job>.json` (the job, totals from its counts, and
 * every result as protobuf JSON, detection's objects and boxes included) and `.csv`, which is @imgc/proto's
 * `reportCsv`, the same CSV as the gateway's report.csv and `imgc results --csv`.
 */
import { toJson } from "@bufbuild/protobuf";
import { ErrorCode, type ItemResult, ItemResultSchema, ItemState, type Job, JobSchema } from "@imgc/proto";

export function reportJson(job: Job, results: readonly ItemResult[]): string {
  const failures: Record<string, number> = {};
  for (const r of results) {
    if (r.state !== ItemState.FAILED) continue;
    const code = ErrorCode[r.errorCode] ?? String(r.errorCode);
    failures[code] = (failures[code] ?? 0) + 1;
  }
  const bytesIn = Number(job.bytesIn);
  const bytesOut = Number(job.bytesOut);
  const totals = {
    items: job.counts?.total ?? results.length,
    done: job.counts?.done ?? 0,
    keptOriginal: job.counts?.keptOriginal ?? 0,
    failed: job.counts?.failed ?? 0,
    bytesIn,
    bytesOut,
    savedPercent: bytesIn > 0 ? Number(((1 - bytesOut / bytesIn) * 100).toFixed(2)) : 0,
    failures,
  };
  return JSON.stringify(
    { job: toJson(JobSchema, job), totals, items: results.map((r) => toJson(ItemResultSchema, r)) },
    null,
    2,
  );
}
