/**
 * `results.zip`: a job's outputs as one zip archive, written while it is read.
 *
 * yazl earns its place: it streams entries whose size is unknown up front (data descriptors), switches to
 * ZIP64 by itself past 4 GiB or 65,535 entries, and opens each entry's source only when the archive reaches
 * it (`addReadStreamLazy`), so one S3 GET is open at a time and nothing is buffered or spooled: the
 * gateway holds one object's stream buffers, whatever the archive's size. Images are stored, not deflated
 * (they are compressed already; deflating them burns CPU for nothing); the closing `report/report.csv` is deflated.
 */
import type { Readable } from "node:stream";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Logger, retry, type Storage, StorageError } from "@imgc/common";
import { createReport, csvHeader, csvRow, csvTotals, REPORT_ENTRY } from "@imgc/proto";
import { ZipFile } from "yazl";
import type { JobResults } from "./results.js";

export interface ResultsZipDeps {
  storage: Pick<Storage, "getStream">;
  log: Logger;
  /**
   * The job's own output folder (`outputs/<tenant>/<job>/`): an output key anywhere else is never read,
   * whatever a (forged) result claims, so a zip cannot carry another tenant's objects.
   */
  outputPrefix: string;
}

/** Whether `key` lies inside `prefix`, with no `..` segment that a store might resolve out of it. */
export function isUnder(key: string, prefix: string): boolean {
  return key.startsWith(prefix) && key.length > prefix.length && !key.split("/").includes("..");
}

/**
 * The archive of `job`'s outputs: one entry per item that came out, named after its source ("photo.webp",
 * "photo (2).webp") at the archive's top; failed and unfinished items are left out; the report comes last, in a
 * folder of its own (`report/report.csv`, REPORT_ENTRY), so that the photos unpack without it among them.
 * Destroying the returned stream (the client went away) releases the S3 stream being read and stops reading
 * pages. A failure half-way destroys it with the error, so the client sees a cut download, never a short zip.
 */
export function resultsZip({ job, results }: JobResults, { storage, log, outputPrefix }: ResultsZipDeps): Readable {
  const zip = new ZipFile();
  const output = zip.outputStream as Readable;
  const mtime = job?.finishedAt ? timestampDate(job.finishedAt) : new Date();
  let source: Readable | undefined;
  let stopped = false;
  const stop = (err?: unknown) => {
    if (stopped) return;
    stopped = true;
    source?.destroy();
    if (err !== undefined) {
      log.error({ err, job: job?.id }, "results.zip failed while streaming");
      output.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  };
  zip.on("error", stop);
  output.on("close", () => stop());

  async function addEntries(): Promise<void> {
    const report = createReport();
    const csv = [csvHeader()];
    for await (const result of results) {
      if (stopped) return;
      const row = report.row(result);
      csv.push(csvRow(row));
      if (row.name === "") continue;
      if (!isUnder(result.outputKey, outputPrefix)) {
        log.warn({ job: job?.id, item: result.itemId }, "results.zip: output key outside the job's folder left out");
        continue;
      }
      zip.addReadStreamLazy(row.name, { compress: false, mtime }, (ready) => {
        openWithRetry(storage, result.outputKey).then((stream) => {
          if (stopped) return void stream.destroy();
          source = stream;
          // yazl pipes the stream but does not watch it: a read that fails half-way must end the archive.
          stream.on("error", stop);
          ready(null, stream);
        }, stop);
      });
    }
    csv.push(csvTotals(report.totals()));
    zip.addBuffer(Buffer.from(csv.join("")), REPORT_ENTRY, { mtime, compress: true });
    zip.end();
  }
  addEntries().catch(stop);
  return output;
}

/**
 * A GET that fails before its response (a keep-alive socket the S3 server closed just as it was reused:
 * "socket hang up") is retried: nothing of the object was read yet, so nothing is duplicated.
 */
function openWithRetry(storage: Pick<Storage, "getStream">, key: string, attempts = 3): Promise<Readable> {
  const retryable = (err: unknown) => StorageError.is(err) && err.kind === "unavailable";
  return retry(() => storage.getStream(key), { retryable, attempts, firstDelayMs: 100 });
}
