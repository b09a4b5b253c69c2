/**
 * `imgc compress <files, dirs or s3://bucket/prefix…>`: the whole round trip. Uploads each local file
 * (streamed from disk), submits one job with them and any S3 prefixes, follows it, downloads every output to
 * --out as "<original base name>.<ext>", and prints one line per file. Exit 0 when every file came out, 1
 * when any failed (or the job did), 2 on a usage error.
 */
import { mkdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { pool } from "@imgc/common/pool";
import {
  createOutputNamer,
  formatBytes,
  formatSaving,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  type Job,
  JobSchema,
  JobState,
  type SourceSchema,
} from "@imgc/proto";
import { integer, parse, received, UsageError } from "../args.js";
import { describeError } from "../cli.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { type Output, println } from "../context.js";
import { collectFiles } from "../files.js";
import { followJob } from "../follow.js";
import {
  errorCode,
  imageFormat,
  itemState,
  jobLine,
  jobState,
  RESULT_HEADER,
  resultRow,
  resultsTable,
} from "../format.js";
import { jobOptions, jobOptionsHelp, jobSettings } from "../job-flags.js";
import { messageJson, printJson } from "../output.js";
import { createProgressBar, jobProgress } from "../progress-bar.js";
import { download, uploadFile } from "../transfer.js";
import { allResults } from "./results.js";

/** One file's way through the round trip: a local file, or an object found under an S3 prefix. */
export interface FileOutcome {
  /** The local path, or "s3://bucket/key" for an object of a prefix. */
  file: string;
  size: number;
  key?: string;
  result?: ItemResult;
  /** The written output, absolute. */
  output?: string;
  /** Why it did not come out (upload, compression or download). */
  error?: string;
}

const silent: Output = { write: () => true };

export interface S3Source {
  /** Empty for the cluster's own bucket. */
  bucket: string;
  prefix: string;
}

/** `s3://bucket/prefix` → {bucket, prefix}; undefined for anything that is not an s3:// URL. */
export function parseS3Source(arg: string): S3Source | undefined {
  const match = /^s3:\/\/([^/]*)\/?(.*)$/i.exec(arg);
  if (!match) return undefined;
  const [, bucket = "", prefix = ""] = match;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`Expected s3://<bucket>/<prefix> (a valid bucket name) but received ${received(arg)}`);
  }
  return { bucket, prefix };
}

/** Exit 0 only when there was something to compress, every file came out and the job itself did not fail. */
export function exitCode(outcomes: readonly FileOutcome[], job: Job | undefined): number {
  const jobFailed = job !== undefined && (job.state === JobState.FAILED || job.state === JobState.CANCELLED);
  return outcomes.length > 0 && outcomes.every(succeeded) && !jobFailed ? 0 : 1;
}

export function succeeded(outcome: FileOutcome): boolean {
  const state = outcome.result?.state;
  // Detection only: an item DONE without an output has nothing to download.
  const delivered = outcome.output !== undefined || (state === ItemState.DONE && outcome.result?.outputKey === "");
  return outcome.error === undefined && delivered && (state === ItemState.DONE || state === ItemState.KEPT_ORIGINAL);
}

export function outcomeRow(outcome: FileOutcome): string[] {
  const name = basename(outcome.file);
  if (outcome.result && outcome.error === undefined) return resultRow(name, outcome.result);
  const row = outcome.result ? resultRow(name, outcome.result) : [name, "", formatBytes(outcome.size), "", "", "", ""];
  row[1] = "failed";
  row[row.length - 1] = outcome.error ?? row[row.length - 1] ?? "";
  return row;
}

export function summaryLine(outcomes: readonly FileOutcome[], outDir: string): string {
  // Detection only (--detect-only): done, with objects and no output.
  const detected = outcomes.filter((o) => succeeded(o) && o.output === undefined).length;
  const done = outcomes.filter(
    (o) => succeeded(o) && o.output !== undefined && o.result?.state === ItemState.DONE,
  ).length;
  const kept = outcomes.filter((o) => succeeded(o) && o.result?.state === ItemState.KEPT_ORIGINAL).length;
  const failed = outcomes.length - done - kept - detected;
  const ok = outcomes.filter((o) => succeeded(o) && o.output !== undefined);
  const before = ok.reduce((sum, o) => sum + Number(o.result?.inputBytes ?? 0n), 0);
  const after = ok.reduce((sum, o) => sum + Number(o.result?.outputBytes ?? 0n), 0);
  const sizes =
    ok.length > 0 ? ` · ${formatBytes(before)} → ${formatBytes(after)} (${formatSaving(before, after)})` : "";
  const where = ok.length > 0 ? ` · written to ${outDir}` : "";
  const scanned = detected > 0 ? `, ${detected} with objects detected only` : "";
  return `${outcomes.length} file${outcomes.length === 1 ? "" : "s"}: ${done} compressed, ${kept} kept as they were${scanned}, ${failed} failed${sizes}${where}`;
}

function outcomeJson(outcome: FileOutcome) {
  const r = outcome.result;
  return {
    file: outcome.file,
    ok: succeeded(outcome),
    key: outcome.key ?? null,
    state: outcome.error !== undefined ? "failed" : r ? itemState(r.state) : "failed",
    inputBytes: r ? Number(r.inputBytes) : outcome.size,
    outputBytes: r && succeeded(outcome) ? Number(r.outputBytes) : null,
    saving: r && succeeded(outcome) ? formatSaving(r.inputBytes, r.outputBytes) : null,
    format: r?.format ? imageFormat(r.format) : null,
    worker: r?.workerId || null,
    output: outcome.output ?? null,
    errorCode: r?.errorCode ? errorCode(r.errorCode) : null,
    error: outcome.error ?? null,
    result: r ? messageJson(ItemResultSchema, r) : null,
  };
}

export const compress: Command = {
  name: "compress",
  summary: "upload images, compress them in one job, download the results",
  help: `Usage: imgc compress <file, directory or s3://bucket/prefix>... [options]

Uploads each image (directories are searched recursively for image files), compresses them in one job,
follows its progress, and writes each output to --out as "<original base name>.<ext>". Prints, per file,
its size before → after, the saving, the format and the worker that made it.
An s3://bucket/prefix source is not uploaded: the cluster reads every object under the prefix itself.
Exits 0 when every file came out, 1 when any failed (or the job did), 2 on a usage error.

Output:
  -o, --out DIR          where outputs are written (default ./compressed; created if missing)
  --concurrency N        uploads and downloads at once, 1 to 32 (default 4)
  --json                 one JSON document with the job and every file's outcome
${jobOptionsHelp}
  -h, --help             this help

${ENVIRONMENT_HELP}

Examples:
  imgc compress photos/ --format webp --quality 80 --max-width 2048 --out web-ready/
  imgc compress s3://imgc/incoming/2026/ --format avif --out compressed/`,

  async run(argv, context) {
    const { values, positionals: paths } = parse(argv, {
      ...jobOptions,
      out: { type: "string", short: "o" },
      concurrency: { type: "string" },
    });
    if (values.help) return showHelp(context, compress);
    const settings = jobSettings(values);
    const concurrency = integer(values.concurrency, "--concurrency", 1, 32) ?? 4;
    if (paths.length === 0) throw new UsageError("at least one file, directory or s3://bucket/prefix is required");
    const prefixes: S3Source[] = [];
    const locals: string[] = [];
    for (const path of paths) {
      const s3 = parseS3Source(path);
      if (s3) prefixes.push(s3);
      else locals.push(path);
    }
    const files = locals.length > 0 ? await collectFiles(locals) : [];
    if (files.length === 0 && prefixes.length === 0) throw new UsageError(`no image files in ${locals.join(", ")}`);
    const outDir = resolve(values.out ?? "compressed");
    const json = values.json === true;
    const progress = createProgressBar(json ? silent : context.stderr, context.env);
    const jobs = context.jobs();

    // 1. Upload, a few files at a time; a file that fails to upload is reported and left out of the job.
    const outcomes: FileOutcome[] = await Promise.all(
      files.map(async (file) => ({ file, size: (await stat(file)).size })),
    );
    const upload = { done: 0, failed: 0, bytes: 0, totalBytes: outcomes.reduce((sum, o) => sum + o.size, 0) };
    const showUpload = () =>
      progress.update({
        phase: "uploading",
        done: upload.done,
        total: files.length,
        unit: "files",
        bytes: upload.bytes,
        totalBytes: upload.totalBytes,
        ...(upload.failed > 0 ? { note: `${upload.failed} failed` } : {}),
      });
    await pool(outcomes, concurrency, async (outcome) => {
      let sent = 0;
      try {
        const stored = await uploadFile(jobs, outcome.file, (n) => {
          sent += n;
          upload.bytes += n;
          showUpload();
        });
        outcome.key = stored.key;
        outcome.size = stored.size;
      } catch (err) {
        outcome.error = `upload: ${describeError(err)}`;
        upload.failed++;
      }
      // A retried upload reads the file again: count each file's bytes once.
      upload.bytes += outcome.size - sent;
      upload.done++;
      showUpload();
    });
    if (files.length > 0) progress.finish();
    const inJob = outcomes.filter((o) => o.key !== undefined);

    let job: Job | undefined;
    if (inJob.length > 0 || prefixes.length > 0) {
      // 2. One job for all of them, followed to its end.
      const sources: MessageInitShape<typeof SourceSchema>[] = [
        ...inJob.map((o) => ({ kind: { case: "uploadKey" as const, value: o.key as string } })),
        ...prefixes.map((value) => ({ kind: { case: "s3Prefix" as const, value } })),
      ];
      const submitted = await jobs.submitJob({ sources, ...settings });
      if (!submitted.job) throw new Error("the server returned no job");
      progress.update(jobProgress(submitted.job));
      job = await followJob(jobs, submitted.job.id, { onJob: (next) => progress.update(jobProgress(next)) });
      progress.finish(jobLine(job));

      // 3. Results by source key (the objects of prefixes become outcomes of their own), then the outputs.
      const all = await allResults(jobs, job.id, true);
      const byKey = new Map(all.map((r) => [r.sourceKey, r]));
      const uploadedKeys = new Set(inJob.map((o) => o.key));
      for (const result of all) {
        if (uploadedKeys.has(result.sourceKey)) continue;
        const from = prefixes.find((prefix) => result.sourceKey.startsWith(prefix.prefix));
        const outcome: FileOutcome = {
          file: `s3://${from?.bucket ?? ""}/${result.sourceKey}`,
          size: Number(result.inputBytes),
          key: result.sourceKey,
        };
        outcomes.push(outcome);
        inJob.push(outcome);
      }
      await mkdir(outDir, { recursive: true });
      const nameFor = createOutputNamer();
      const downloads: FileOutcome[] = [];
      for (const outcome of inJob) {
        const result = byKey.get(outcome.key as string);
        if (!result) {
          outcome.error = "the job has no result for this file";
          continue;
        }
        outcome.result = result;
        // A FAILED item carries its own error code and message; the row shows them.
        if (result.state === ItemState.FAILED) continue;
        if (result.state !== ItemState.DONE && result.state !== ItemState.KEPT_ORIGINAL) {
          outcome.error = `still ${itemState(result.state)} when the job ended ${jobState(job.state)}`;
        } else if (!result.outputKey) continue;
        else if (!result.downloadUrl) outcome.error = "the server gave no download URL";
        else downloads.push(outcome);
      }
      let fetched = 0;
      let fetchedBytes = 0;
      const totalBytes = downloads.reduce((sum, o) => sum + Number(o.result?.outputBytes ?? 0n), 0);
      await pool(downloads, concurrency, async (outcome) => {
        const result = outcome.result as ItemResult;
        const output = join(outDir, nameFor(basename(outcome.file), result));
        try {
          fetchedBytes += await download(context.fetch, result.downloadUrl, output);
          outcome.output = output;
        } catch (err) {
          outcome.error = `download: ${describeError(err)}`;
        }
        fetched++;
        progress.update({
          phase: "downloading",
          done: fetched,
          total: downloads.length,
          unit: "files",
          bytes: fetchedBytes,
          totalBytes,
        });
      });
      if (downloads.length > 0) progress.finish(`downloaded ${fetched} output${fetched === 1 ? "" : "s"} to ${outDir}`);
    } else {
      progress.finish("no file could be uploaded");
    }

    if (json) {
      printJson(context, { job: job ? messageJson(JobSchema, job) : null, outDir, files: outcomes.map(outcomeJson) });
    } else {
      println(
        context.stdout,
        resultsTable(
          [...RESULT_HEADER],
          outcomes.map(outcomeRow),
          outcomes.map((outcome) => outcome.result),
        ),
      );
      if (job?.error) println(context.stdout, `job ${job.id} failed: ${job.error}`);
      println(context.stdout, summaryLine(outcomes, outDir));
    }
    return exitCode(outcomes, job);
  },
};
