/**
 * The invariants of "nothing is lost", checked on an ended job and returned as a list of problems (empty: all
 * hold), so that the suite (with vitest) and the soak script (without) judge a job the same way.
 */
import path from "node:path";
import type { Client } from "@connectrpc/connect";
import type { Storage } from "@imgc/common";
import { ErrorCode, type ItemResult, ItemState, type Job, type JobService, JobState } from "@imgc/proto";
import sharp from "sharp";
import { allResults, terminalJobStates, type Uploaded } from "../harness/index.js";

export interface AuditBatch {
  uploads: readonly Uploaded[];
  /** Upload key → its source's width and height (images only). */
  sizes: ReadonlyMap<string, { width: number; height: number }>;
}

export interface Expectations {
  /** Item failures expected, by source file name → error code; every other item must succeed. */
  failures?: ReadonlyMap<string, ErrorCode>;
  /** Failures allowed on top of those (none by default), with the codes they may carry. */
  allowFailed?: { count: number; codes: readonly ErrorCode[] };
  /**
   * Download every n-th output (default 1: all) and check it is a rendering of its own source (see
   * notRenderingsOfTheirSources); 0 checks none. The suite's scenarios all use the default.
   */
  decodeEvery?: number;
}

export interface Audit {
  job: Job | undefined;
  results: ItemResult[];
  problems: string[];
}

const names = (list: readonly string[], max = 10) =>
  list.length <= max ? list.join(", ") : `${list.slice(0, max).join(", ")} and ${list.length - max} more`;

/**
 * Every item has exactly one terminal result for its own source; the counters count each item once, add up
 * (completed + failed = total) and leave nothing pending or running; the failures are exactly the expected
 * ones, with their codes; and the output prefix holds exactly one object per successful item, under that item's
 * own key (no key shared by two items), of the size reported, and nothing else; each is a rendering of its own
 * source (a kept original is its bytes; a compressed output decodes at its size and looks like it, more than
 * like any other source of that size).
 */
export async function auditJob(
  c: { jobs: Client<typeof JobService>; storage: Storage },
  jobId: string,
  batch: AuditBatch,
  expectations: Expectations = {},
): Promise<Audit> {
  const problems: string[] = [];
  const problem = (text: string) => problems.push(text);
  const { job } = await c.jobs.getJob({ jobId });
  if (!job || !terminalJobStates.has(job.state)) {
    problem(`job ${jobId} has not ended: ${job ? JobState[job.state] : "unknown"}`);
    return { job, results: [], problems };
  }
  const total = batch.uploads.length;
  const results = await allResults(c.jobs, jobId);

  // Every item, once, in a terminal state, for its own source.
  if (results.length !== total) problem(`${results.length} results for ${total} items`);
  const ids = new Set(results.map((r) => r.itemId));
  if (ids.size !== results.length) problem(`${results.length - ids.size} items have more than one result`);
  const sources = new Set(results.map((r) => r.sourceKey));
  const missing = batch.uploads.filter((u) => !sources.has(u.key)).map((u) => u.name);
  if (missing.length > 0) problem(`no result for ${names(missing)}`);
  const byState = (state: ItemState) => results.filter((r) => r.state === state);
  const [done, kept, failed] = [byState(ItemState.DONE), byState(ItemState.KEPT_ORIGINAL), byState(ItemState.FAILED)];
  const other = results.length - done.length - kept.length - failed.length;
  if (other > 0) problem(`${other} results are not terminal`);

  // The counters: each item counted once, completed + failed = total, nothing left pending or running.
  const counts = job.counts;
  const counted = { done: counts?.done ?? 0, kept: counts?.keptOriginal ?? 0, failed: counts?.failed ?? 0 };
  const actual = { done: done.length, kept: kept.length, failed: failed.length };
  if (counts?.total !== total) problem(`the job counts ${counts?.total} items, not ${total}`);
  if (JSON.stringify(counted) !== JSON.stringify(actual)) {
    problem(`counters ${JSON.stringify(counted)} do not match the results ${JSON.stringify(actual)}`);
  }
  if (counted.done + counted.kept + counted.failed !== total) {
    problem(`completed + failed = ${counted.done + counted.kept + counted.failed}, not ${total}`);
  }
  if ((counts?.pending ?? 0) !== 0 || (counts?.running ?? 0) !== 0) {
    problem(`pending ${counts?.pending}, running ${counts?.running} on an ended job`);
  }

  // Failures: exactly the expected ones, with their codes, plus any allowed extras.
  const nameOf = (result: ItemResult) => path.basename(result.sourceKey);
  const expectedFailures = expectations.failures ?? new Map<string, ErrorCode>();
  const extra: ItemResult[] = [];
  for (const result of failed) {
    const code = expectedFailures.get(nameOf(result));
    if (code === undefined) extra.push(result);
    else if (result.errorCode !== code) {
      problem(`${nameOf(result)} failed ${ErrorCode[result.errorCode]}, not ${ErrorCode[code]}`);
    }
    if (result.errorMessage === "") problem(`${nameOf(result)} failed without a message`);
  }
  for (const [name] of expectedFailures) {
    if (!failed.some((r) => nameOf(r) === name)) problem(`${name} did not fail`);
  }
  const allowed = expectations.allowFailed ?? { count: 0, codes: [] };
  const unexpected = extra.filter((r, at) => at >= allowed.count || !allowed.codes.includes(r.errorCode));
  for (const r of unexpected.slice(0, 20)) {
    problem(`unexpected failure: ${nameOf(r)}: ${ErrorCode[r.errorCode]} ${r.errorMessage}`);
  }
  if (unexpected.length > 20) problem(`and ${unexpected.length - 20} more unexpected failures`);
  const state = failed.length > 0 ? JobState.COMPLETED_WITH_ERRORS : JobState.COMPLETED;
  if (job.state !== state) problem(`the job ended ${JobState[job.state]}, not ${JobState[state]}`);

  // Outputs: exactly one object per successful item, under that item's own key, of the size reported, and no
  // other object. (Two items sharing one key would leave one object for two results: counted here.)
  const succeeded = [...done, ...kept];
  const outputs = new Map<string, number>();
  for await (const object of c.storage.list(`outputs/${job.tenant}/${jobId}/`)) outputs.set(object.key, object.size);
  const owners = new Map<string, string[]>();
  for (const r of succeeded) owners.set(r.outputKey, [...(owners.get(r.outputKey) ?? []), r.itemId]);
  const shared = [...owners].filter(([, items]) => items.length > 1);
  for (const [key, items] of shared.slice(0, 10))
    problem(`${key} is the output of ${items.length} items: ${names(items)}`);
  const misplaced = succeeded.filter((r) => !r.outputKey.startsWith(`outputs/${job.tenant}/${jobId}/${r.itemId}.`));
  if (misplaced.length > 0) problem(`outputs not under their item's key: ${names(misplaced.map((r) => r.outputKey))}`);
  const strays = [...outputs.keys()].filter((key) => !owners.has(key));
  if (strays.length > 0) problem(`objects that are no item's output: ${names(strays)}`);
  const absent = [...owners.keys()].filter((key) => !outputs.has(key));
  if (absent.length > 0) problem(`outputs missing: ${names(absent)}`);
  for (const result of succeeded) {
    const size = outputs.get(result.outputKey);
    if (size !== undefined && size !== Number(result.outputBytes)) {
      problem(`${result.outputKey} is ${size} bytes, not the ${result.outputBytes} reported`);
    }
  }
  const every = expectations.decodeEvery ?? 1;
  const sampled = every > 0 ? succeeded.filter((r, at) => at % every === 0 && outputs.has(r.outputKey)) : [];
  problems.push(...(await notRenderingsOfTheirSources(c.storage, sampled, batch)));
  return { job, results, problems };
}

/**
 * Side of the thumbnails outputs and sources are compared at, and the blur before shrinking that keeps the
 * comparison about the picture rather than about the encoder's noise.
 */
const THUMB_SIDE = 16;
/**
 * The largest mean difference (0–255 per channel) allowed between an output's thumbnail and its source's.
 * Measured on the suite's 500 images at WebP q75: 9.9 at most for an image against its own output, 12.7 at
 * least against another's. The nearest-source check below is what tells two similar images apart.
 */
export const MAX_THUMB_DISTANCE = 20;

/** A small colour thumbnail, orientation applied and alpha flattened on white, for comparing pictures. */
export async function thumbnail(body: Buffer): Promise<Buffer> {
  return sharp(body)
    .rotate()
    .flatten({ background: "#ffffff" })
    .removeAlpha()
    .blur(1.2)
    .resize(THUMB_SIDE, THUMB_SIDE, { fit: "fill" })
    .raw()
    .toBuffer();
}

/** Mean absolute difference of two thumbnails, 0–255. */
export function thumbDistance(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

/** Formats whose sources the test renders for comparison; an SVG is not rendered here (it may be hostile). */
const RASTER = new Set(["jpeg", "png", "webp", "gif", "avif", "heif", "tiff"]);

/**
 * Each output is a rendering of its own source: a kept original is the source's bytes; a compressed output
 * decodes at its source's size, looks like its source (thumbnail distance), and looks more like its own source
 * than like any other source of the same size in the batch, so outputs swapped between same-sized images fail.
 */
async function notRenderingsOfTheirSources(
  storage: Storage,
  list: readonly ItemResult[],
  batch: AuditBatch,
): Promise<string[]> {
  const problems: string[] = [];
  const bodies = new Map(batch.uploads.map((u) => [u.key, u.body]));
  const thumbs = new Map<string, Promise<Buffer | undefined>>();
  const thumbOf = (key: string) => {
    let thumb = thumbs.get(key);
    if (!thumb) {
      const body = bodies.get(key);
      thumb = (async () => {
        if (!body) return undefined;
        const { format } = await sharp(body).metadata();
        return format && RASTER.has(format) ? thumbnail(body) : undefined;
      })().catch(() => undefined);
      thumbs.set(key, thumb);
    }
    return thumb;
  };
  const sizeKey = (size: { width: number; height: number } | undefined) => `${size?.width}×${size?.height}`;
  const sameSize = new Map<string, string[]>();
  for (const [key, size] of batch.sizes) sameSize.set(sizeKey(size), [...(sameSize.get(sizeKey(size)) ?? []), key]);

  let next = 0;
  const lane = async () => {
    while (next < list.length) {
      const result = list[next++] as ItemResult;
      try {
        const body = await storage.getBuffer(result.outputKey);
        if (result.state === ItemState.KEPT_ORIGINAL) {
          // The original, with its metadata stripped at the container level under the default policy: the
          // source's bytes, or else exactly its pixels.
          const original = bodies.get(result.sourceKey) ?? Buffer.alloc(0);
          if (!body.equals(original) && !(await samePixels(body, original))) {
            problems.push(`${result.outputKey} is KEPT_ORIGINAL but is neither its source's bytes nor its pixels`);
          }
          continue;
        }
        const { info } = await sharp(body).raw().toBuffer({ resolveWithObject: true });
        const source = batch.sizes.get(result.sourceKey);
        if (info.width !== source?.width || info.height !== source?.height) {
          problems.push(
            `${result.outputKey} decodes at ${info.width}×${info.height}, its source is ${source?.width}×${source?.height}`,
          );
          continue;
        }
        const own = await thumbOf(result.sourceKey);
        if (!own) continue;
        const thumb = await thumbnail(body);
        const distance = thumbDistance(thumb, own);
        if (distance > MAX_THUMB_DISTANCE) {
          problems.push(
            `${result.outputKey} does not look like its source ${path.basename(result.sourceKey)} (distance ${distance.toFixed(1)} > ${MAX_THUMB_DISTANCE})`,
          );
          continue;
        }
        for (const other of sameSize.get(sizeKey(source)) ?? []) {
          if (other === result.sourceKey) continue;
          const theirs = await thumbOf(other);
          // Strictly nearer: two sources that look the same (the same image uploaded twice) make outputs that
          // do too, and swapping those is no loss.
          if (theirs && thumbDistance(thumb, theirs) < distance) {
            problems.push(
              `${result.outputKey} looks more like ${path.basename(other)} than like its own source ${path.basename(result.sourceKey)}`,
            );
            break;
          }
        }
      } catch (err) {
        problems.push(`${result.outputKey} does not decode: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return problems;
}

/** Both decode to the same pixels (false when either does not decode). */
async function samePixels(a: Buffer, b: Buffer): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([sharp(a).raw().toBuffer(), sharp(b).raw().toBuffer()]);
    return x.equals(y);
  } catch {
    return false;
  }
}
