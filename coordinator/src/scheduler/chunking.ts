/**
 * How a job's items are grouped into chunks: a chunk should be a few seconds of work, so that a big job
 * spreads over every worker and a retried chunk repeats little, while a small job still splits into several
 * chunks so that two workers share a 10-image job.
 */
import { create } from "@bufbuild/protobuf";
import { keys } from "@imgc/common";
import {
  type Chunk,
  ChunkItemSchema,
  ChunkSchema,
  type CompressionOptions,
  DetectionOptionsSchema,
  ImageFormat,
  type Job,
  TaskKind,
} from "@imgc/proto";
import type { ChunkLimits } from "../config.js";
import { itemId } from "../ids.js";
import { jobTasks } from "../validate.js";
import type { SourceItem } from "./sources.js";

/**
 * Chunks per live slot a job is spread over at least (bounded by its items and by maxItems per chunk), so that
 * a job spreads over every slot and a retried chunk repeats little; a chunk still carries only milliseconds of
 * scheduling against its seconds of work. How evenly the slots end is the tapering's (planChunks).
 */
export const CHUNKS_PER_SLOT = 4;

/** [start, end) positions of each chunk's items, in order. */
export type ChunkRange = readonly [start: number, end: number];

/** The chunk-sizing knobs for one job: the configured ones, and the live slots the chunks are shared by. */
export interface PlanLimits extends ChunkLimits {
  /** Live worker slots the chunks are tapered for; 0 or absent: none yet, so equal chunks. */
  slots?: number;
}

/**
 * Splits items of the given sizes into at least `minCount` groups (when there are that many items) of at most
 * `maxItems`, tapering: each group takes at most an even share of what is left over the groups still to come,
 * and at most one live slot's share of what is left (guided self-scheduling), so that the last groups hold an
 * item or two. Workers take chunks in order as they free up: with equal chunks, at a job's end every slot but
 * one could idle for up to a chunk's time (in a simulation of uneven images, 6 to 28% of a slot's work for jobs
 * of 48 to 10,000 items on 2 to 200 slots); tapered, 0.5 to 5%, for 15 to 50% more chunks. Then a group is cut
 * where its bytes would pass `maxBytes`; an item larger than `maxBytes` gets a chunk of its own.
 */
export function planChunks(sizes: readonly number[], limits: PlanLimits): ChunkRange[] {
  const n = sizes.length;
  if (n === 0) return [];
  const groups = Math.max(Math.ceil(n / limits.maxItems), Math.min(n, limits.minCount));
  // Without live slots nothing says how many share the job: equal chunks, however many workers come.
  const tapered = (left: number) => (limits.slots ? Math.ceil(left / limits.slots) : left);
  const ranges: ChunkRange[] = [];
  let start = 0;
  for (let group = 0; start < n; group++) {
    const left = n - start;
    const even = Math.ceil(left / Math.max(1, groups - group));
    const end = start + Math.max(1, Math.min(even, tapered(left)));
    let chunkStart = start;
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const size = sizes[i] ?? 0;
      if (i > chunkStart && bytes + size > limits.maxBytes) {
        ranges.push([chunkStart, i]);
        chunkStart = i;
        bytes = 0;
      }
      bytes += size;
    }
    ranges.push([chunkStart, end]);
    start = end;
  }
  return ranges;
}

/**
 * How much slower than a default JPEG/WebP encode an item is expected to be with these options. Pixels are
 * unknown until a worker reads the header, so bytes stand in for them and the options scale the budget.
 */
export function costFactor(options: CompressionOptions | undefined): number {
  if (!options) return 1;
  const formats =
    options.format === ImageFormat.AUTO || options.format === ImageFormat.UNSPECIFIED
      ? options.autoFormats.length > 0
        ? options.autoFormats
        : [ImageFormat.JPEG, ImageFormat.WEBP]
      : [options.format];
  let factor = formats.includes(ImageFormat.AVIF) ? 4 : 1;
  // AUTO encodes every candidate format; a searched target encodes several qualities.
  factor *= Math.max(1, formats.length * 0.75);
  const goal = options.target?.goal.case;
  if (goal === "minSsim" || goal === "maxBytes") factor *= 3;
  if (options.effort > 6) factor *= 1.5;
  if (options.palette) factor *= 1.5;
  return factor;
}

/** The limits for a job with these options: costlier work gets smaller chunks. */
export function limitsFor(options: CompressionOptions | undefined, base: PlanLimits): PlanLimits {
  const factor = costFactor(options);
  return {
    ...base,
    maxItems: Math.max(1, Math.floor(base.maxItems / factor)),
    maxBytes: Math.max(1, Math.floor(base.maxBytes / factor)),
  };
}

/**
 * The job's chunks: each task (job.tasks, in order) gets its own chunks of the same items, numbered on from the
 * previous task's, so that every chunk of the job has its own index (and `Nats-Msg-Id <job>.<index>`).
 */
export function buildChunks(job: Job, items: readonly SourceItem[], limits: PlanLimits, outputBucket: string): Chunk[] {
  const present = items.flatMap((item, position) => (item.missing ? [] : [{ item, position }]));
  const sizes = present.map(({ item }) => item.size);
  const list: Chunk[] = [];
  for (const kind of jobTasks(job.tasks)) {
    const compress = kind === TaskKind.COMPRESS;
    for (const [start, end] of planChunks(sizes, limitsFor(compress ? job.options : undefined, limits))) {
      list.push(
        create(ChunkSchema, {
          jobId: job.id,
          tenant: job.tenant,
          index: list.length,
          kind,
          items: present.slice(start, end).map(({ item, position }) =>
            create(ChunkItemSchema, {
              itemId: itemId(position),
              bucket: item.bucket,
              key: item.key,
              size: BigInt(item.size),
              sourceEtag: item.etag ?? "",
            }),
          ),
          ...(compress && job.options ? { options: job.options } : {}),
          ...(!compress ? { detection: job.detection ?? create(DetectionOptionsSchema, {}) } : {}),
          outputBucket,
          outputPrefix: keys.outputPrefix(job.tenant, job.id),
          traceParent: job.traceParent,
        }),
      );
    }
  }
  return list;
}
