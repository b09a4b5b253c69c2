/**
 * The flags that shape a job, shared by `compress` and `submit`, and what they become in a SubmitJobRequest:
 * one flag per CompressionOptions field (proto/imgc/v1/options.proto), checked here with the server's own
 * ranges so a mistake is a usage error before any file is uploaded.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ChromaSubsampling,
  type CompressionOptionsSchema,
  type DetectionOptionsSchema,
  Fit,
  ImageFormat,
  isCocoLabel,
  MAX_RETENTION_DAYS,
  MetadataPolicy,
  OPTION_LIMITS,
  Priority,
  TaskKind,
} from "@imgc/proto";
import { byteSize, choice, choices, decimal, integer, received, UsageError } from "./args.js";

export const jobOptions = {
  format: { type: "string" },
  "auto-formats": { type: "string" },
  quality: { type: "string" },
  lossless: { type: "boolean" },
  "min-ssim": { type: "string" },
  "max-bytes": { type: "string" },
  "max-width": { type: "string" },
  "max-height": { type: "string" },
  fit: { type: "string" },
  enlarge: { type: "boolean" },
  metadata: { type: "string" },
  effort: { type: "string" },
  progressive: { type: "boolean" },
  "near-lossless": { type: "boolean" },
  chroma: { type: "string" },
  palette: { type: "boolean" },
  "flatten-animation": { type: "boolean" },
  "allow-larger": { type: "boolean" },
  "shrink-to-fit": { type: "boolean" },
  priority: { type: "string" },
  label: { type: "string" },
  "idempotency-key": { type: "string" },
  webhook: { type: "string" },
  "retention-days": { type: "string" },
  detect: { type: "boolean" },
  "detect-only": { type: "boolean" },
  "detect-min-score": { type: "string" },
  "detect-max": { type: "string" },
  "detect-labels": { type: "string" },
} as const;

export const jobOptionsHelp = `Format:
  --format F             webp, jpeg, avif, png, keep (the input's format) or auto (the smallest; default)
  --auto-formats LIST    the formats auto picks from, comma-separated: jpeg,webp,avif,png
                         (default: jpeg,webp for opaque images, webp,png with transparency)
Target (at most one; default: each format's own quality):
  --quality N            encoder quality, 1 to 100
  --lossless             lossless output (PNG, lossless WebP/AVIF; JPEG falls back to quality 100)
  --min-ssim S           the lowest quality whose SSIM against the source is at least S, 0.5 to 1
  --max-bytes SIZE       the highest quality that fits in SIZE: 250000, 200k (200 kB), 1.5M, 200KiB (×1024)
  --shrink-to-fit        with --max-bytes: shrink the dimensions (aspect ratio kept) until the image fits at
                         a sane quality (JPEG/WebP 30, AVIF 20), instead of failing (default: off; the
                         dimensions are never changed unless asked)
Resize:
  --max-width N          shrink to at most N pixels wide (1 to 65535)
  --max-height N         shrink to at most N pixels tall (1 to 65535)
  --fit F                how the image fits the box: inside (default), cover (cropped), contain
                         (letterboxed), fill (stretched) or outside
  --enlarge              also enlarge images smaller than the box
Encoding:
  --metadata M           strip (default; orientation applied, colour to sRGB), keep-copyright (strip but
                         keep EXIF copyright and artist) or keep-all (EXIF, XMP, IPTC, ICC)
  --effort N             1 (fast) to 10 (slow, smaller); default: each encoder's own
  --progressive          progressive JPEG
  --near-lossless        WebP: lossless output after near-lossless preprocessing, its strength the target's
                         quality (--quality, --min-ssim or --max-bytes)
  --chroma C             JPEG and AVIF chroma subsampling: 420 (smaller) or 444 (sharper colour edges)
  --palette              PNG: quantise to a palette (lossy, much smaller for graphics)
  --flatten-animation    output the first frame of animated images only
  --allow-larger         write outputs even when larger than the input (default: keep the original)
Job:
  --priority P           high, normal (default) or low
  --label TEXT           a label shown in listings
  --idempotency-key K    submitting the same key again returns the same job
  --webhook URL          POSTed to when the job ends
  --retention-days N     delete the job and its data N days after it ends, 1 to 3650 (default: the
                         cluster's retention)

Object detection (COCO's 80 labels: person, cup, motorcycle, …):
  --detect               also detect the objects in each image (labels, scores and boxes)
  --detect-only          detect objects only: no compressed outputs
  --detect-min-score S   only objects scored at least S, 0 to 0.99 (default 0.5)
  --detect-max N         at most N objects per image, 1 to 100 (default 20)
  --detect-labels LIST   only these labels, comma-separated: person,cup`;

const FORMATS = {
  auto: ImageFormat.AUTO,
  keep: ImageFormat.KEEP,
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  png: ImageFormat.PNG,
} as const;
const AUTO_FORMATS = {
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  png: ImageFormat.PNG,
} as const;
const FITS = {
  inside: Fit.INSIDE,
  cover: Fit.COVER,
  contain: Fit.CONTAIN,
  fill: Fit.FILL,
  outside: Fit.OUTSIDE,
} as const;
const METADATA = {
  strip: MetadataPolicy.STRIP,
  "keep-copyright": MetadataPolicy.STRIP_KEEP_COPYRIGHT,
  "keep-all": MetadataPolicy.KEEP_ALL,
} as const;
const CHROMA = {
  "420": ChromaSubsampling.CHROMA_SUBSAMPLING_420,
  "444": ChromaSubsampling.CHROMA_SUBSAMPLING_444,
} as const;
const PRIORITIES = { high: Priority.HIGH, normal: Priority.NORMAL, low: Priority.LOW } as const;

const keys = <T extends object>(map: T) => Object.keys(map) as (keyof T & string)[];

type Flags = { [K in keyof typeof jobOptions]?: (typeof jobOptions)[K]["type"] extends "boolean" ? boolean : string };

export interface JobSettings {
  options: MessageInitShape<typeof CompressionOptionsSchema>;
  priority: Priority;
  label: string;
  idempotencyKey: string;
  webhookUrl: string;
  retentionDays: number;
  /** Empty: compress only (the server's default). */
  tasks: TaskKind[];
  detection?: MessageInitShape<typeof DetectionOptionsSchema>;
}

/** A comma-separated list of COCO labels; the message names a few rather than all 80. */
function cocoLabels(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const picked = value.split(",").map((part) => part.trim().toLowerCase());
  const wrong = picked.find((label) => !isCocoLabel(label));
  if (wrong !== undefined) {
    throw new UsageError(
      `Expected COCO labels such as person,cup,motorcycle for --detect-labels but received ${received(wrong)}`,
    );
  }
  return [...new Set(picked)];
}

/** --detect, --detect-only and their options; a detection option without either is a mistake. */
function detection(flags: Flags): Pick<JobSettings, "tasks" | "detection"> {
  if (flags.detect && flags["detect-only"]) {
    throw new UsageError(
      "--detect and --detect-only cannot be combined: --detect-only is detection without compression",
    );
  }
  const minScore = decimal(flags["detect-min-score"], "--detect-min-score", 0, 0.99);
  const maxObjects = integer(flags["detect-max"], "--detect-max", 1, OPTION_LIMITS.maxObjects.max);
  const labels = cocoLabels(flags["detect-labels"]);
  const given = [
    minScore !== undefined ? "--detect-min-score" : undefined,
    maxObjects !== undefined ? "--detect-max" : undefined,
    labels !== undefined ? "--detect-labels" : undefined,
  ].find((flag) => flag !== undefined);
  if (!flags.detect && !flags["detect-only"]) {
    if (given) throw new UsageError(`${given} needs --detect or --detect-only`);
    return { tasks: [] };
  }
  const options: MessageInitShape<typeof DetectionOptionsSchema> = {};
  if (minScore !== undefined) options.minScore = minScore;
  if (maxObjects !== undefined) options.maxObjects = maxObjects;
  if (labels !== undefined) options.labels = labels;
  return {
    tasks: flags["detect-only"] ? [TaskKind.DETECT] : [TaskKind.COMPRESS, TaskKind.DETECT],
    detection: options,
  };
}

type Target = NonNullable<MessageInitShape<typeof CompressionOptionsSchema>["target"]>;

/** At most one of the four goals. */
function target(flags: Flags): Target | undefined {
  const quality = integer(flags.quality, "--quality", OPTION_LIMITS.quality.min, OPTION_LIMITS.quality.max);
  const minSsim = decimal(flags["min-ssim"], "--min-ssim", OPTION_LIMITS.minSsim.min, OPTION_LIMITS.minSsim.max);
  const maxBytes = byteSize(flags["max-bytes"], "--max-bytes");
  const given = [
    quality !== undefined ? "--quality" : undefined,
    flags.lossless ? "--lossless" : undefined,
    minSsim !== undefined ? "--min-ssim" : undefined,
    maxBytes !== undefined ? "--max-bytes" : undefined,
  ].filter((flag) => flag !== undefined);
  if (given.length > 1) throw new UsageError(`${given.join(" and ")} cannot be combined: a job has one target`);
  // Near-lossless is lossless output whose preprocessing strength is the quality a target settles on.
  if (flags["near-lossless"] && flags.lossless) {
    throw new UsageError("--near-lossless and --lossless cannot be combined: near-lossless output is lossless already");
  }
  if (flags["shrink-to-fit"] && maxBytes === undefined) throw new UsageError("--shrink-to-fit needs --max-bytes");
  if (flags.lossless) return { goal: { case: "lossless", value: true } };
  if (quality !== undefined) return { goal: { case: "quality", value: quality } };
  if (minSsim !== undefined) return { goal: { case: "minSsim", value: minSsim } };
  if (maxBytes !== undefined) return { goal: { case: "maxBytes", value: BigInt(maxBytes) } };
  return undefined;
}

export function jobSettings(flags: Flags): JobSettings {
  const format = choice(flags.format, "--format", keys(FORMATS)) ?? "auto";
  const autoFormats = choices(flags["auto-formats"], "--auto-formats", keys(AUTO_FORMATS));
  if (autoFormats && format !== "auto") throw new UsageError(`--auto-formats needs --format auto, not ${format}`);
  const maxWidth = integer(flags["max-width"], "--max-width", 1, OPTION_LIMITS.side.max);
  const maxHeight = integer(flags["max-height"], "--max-height", 1, OPTION_LIMITS.side.max);
  const fit = choice(flags.fit, "--fit", keys(FITS));
  const boxless = maxWidth === undefined && maxHeight === undefined;
  if (boxless && (fit !== undefined || flags.enlarge)) {
    throw new UsageError(`${fit !== undefined ? "--fit" : "--enlarge"} needs --max-width or --max-height`);
  }
  const metadata = choice(flags.metadata, "--metadata", keys(METADATA));
  const effort = integer(flags.effort, "--effort", 1, OPTION_LIMITS.effort.max);
  const chroma = choice(flags.chroma, "--chroma", keys(CHROMA));
  const lane = choice(flags.priority, "--priority", keys(PRIORITIES));

  // Only what was asked for is set, so the server's defaults stay the defaults.
  const options: MessageInitShape<typeof CompressionOptionsSchema> = { format: FORMATS[format] };
  if (autoFormats) options.autoFormats = autoFormats.map((name) => AUTO_FORMATS[name]);
  const goal = target(flags);
  if (goal) options.target = goal;
  if (!boxless) {
    options.resize = { maxWidth: maxWidth ?? 0, maxHeight: maxHeight ?? 0 };
    if (fit !== undefined) options.resize.fit = FITS[fit];
    if (flags.enlarge) options.resize.allowEnlarge = true;
  }
  if (metadata !== undefined) options.metadata = METADATA[metadata];
  if (effort !== undefined) options.effort = effort;
  if (flags.progressive) options.progressive = true;
  if (flags["near-lossless"]) options.nearLossless = true;
  if (chroma !== undefined) options.chromaSubsampling = CHROMA[chroma];
  if (flags.palette) options.palette = true;
  if (flags["flatten-animation"]) options.flattenAnimation = true;
  if (flags["allow-larger"]) options.allowLarger = true;
  if (flags["shrink-to-fit"]) options.shrinkToFit = true;
  return {
    options,
    priority: PRIORITIES[lane ?? "normal"],
    label: flags.label ?? "",
    idempotencyKey: flags["idempotency-key"] ?? "",
    webhookUrl: flags.webhook ?? "",
    retentionDays: integer(flags["retention-days"], "--retention-days", 1, MAX_RETENTION_DAYS) ?? 0,
    ...detection(flags),
  };
}
