/**
 * Sending a batch: its files to their presigned slots (progress per row), then one SubmitJob, retried while the
 * gateway is unavailable (safe: the idempotency key makes a retry return the job the lost answer carried).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { retry } from "@imgc/common/retry";
import type { CompressionOptionsSchema, DetectionOptionsSchema, Job, TaskKind } from "@imgc/proto";
import type { JobClient } from "./api.js";
import { mimeType } from "./file-check.js";
import type { Row } from "./row.js";
import { type PutFile, uploadFiles } from "./upload.js";

export type CompressionOptionsInit = MessageInitShape<typeof CompressionOptionsSchema>;

/** A random key that makes a retried SubmitJob return the job it already made (works without a secure context). */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Uploads the rows' files; each row ends "uploaded" (with its key) or "upload-failed". Throws when it all stopped. */
export async function uploadRows(
  jobs: JobClient,
  rows: Row[],
  touch: (row: Row) => void,
  signal: AbortSignal,
  put?: PutFile,
): Promise<void> {
  const rowAt = (i: number) => rows[i] as Row;
  await uploadFiles(
    { jobs, ...(put ? { put } : {}) },
    rows.map((r) => ({ file: r.file as File, contentType: mimeType(r.kind ?? "jpeg") })),
    {
      progress(i, loaded) {
        rowAt(i).loaded = loaded;
        touch(rowAt(i));
      },
      uploaded(i, key) {
        Object.assign(rowAt(i), { key, phase: "uploaded", loaded: rowAt(i).size });
        touch(rowAt(i));
      },
      failed(i, message) {
        Object.assign(rowAt(i), { phase: "upload-failed", note: message });
        touch(rowAt(i));
      },
    },
    signal,
  );
}

/** A job's name from its files: "rocket.jpg", "rocket.jpg and coffee.png", "rocket.jpg and 11 more". */
export function labelFor(names: readonly string[]): string {
  const [first = "", second] = names;
  if (names.length <= 1) return first;
  if (names.length === 2) return `${first} and ${second}`;
  return `${first} and ${names.length - 1} more`;
}

/** What a job is asked to do: compress with these options, and detect objects when its tasks say so. */
export interface JobWork {
  options: CompressionOptionsInit;
  /** Empty: compress only. */
  tasks: readonly TaskKind[];
  detection?: MessageInitShape<typeof DetectionOptionsSchema>;
}

/** Submits the rows' uploaded originals as one job. */
export async function submitRows(
  jobs: JobClient,
  rows: readonly Row[],
  work: JobWork,
  label: string,
  signal: AbortSignal,
): Promise<Job> {
  const request = {
    sources: rows.map((r) => ({ kind: { case: "uploadKey" as const, value: r.key as string } })),
    options: work.options,
    tasks: [...work.tasks],
    ...(work.detection ? { detection: work.detection } : {}),
    idempotencyKey: idempotencyKey(),
    label,
  };
  try {
    // Only Unavailable is retried: any other answer would be the same again.
    const { job } = await retry(() => jobs.submitJob(request, { signal }), {
      retryable: (err) => !signal.aborted && ConnectError.from(err).code === Code.Unavailable,
      attempts: 4,
      firstDelayMs: 1000,
      signal,
    });
    if (!job) throw new ConnectError("the gateway returned no job", Code.Internal);
    return job;
  } catch (err) {
    throw ConnectError.from(err);
  }
}
