/**
 * The options a person picks, as plain data (remembered in localStorage), and their translation into the
 * contract: the job's tasks (compress, detect objects, or both), its CompressionOptions and DetectionOptions.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type CompressionOptionsSchema,
  formatName,
  ImageFormat,
  isCocoLabel,
  MetadataPolicy,
  OPTION_LIMITS,
  TaskKind,
} from "@imgc/proto";
import { loadJson, saveJson } from "./storage.js";
import type { JobWork } from "./submit.js";

export const formats = ["auto", "jpeg", "webp", "avif", "png", "keep"] as const;
export const goals = ["quality", "ssim", "max-size", "lossless"] as const;
export const metadataPolicies = ["strip", "keep-copyright", "keep-all"] as const;
/** What a job does: compress, compress and detect the objects, or detect them only (no compressed files). */
export const works = ["compress", "compress-detect", "detect"] as const;

export type FormatChoice = (typeof formats)[number];
export type GoalChoice = (typeof goals)[number];
export type MetadataChoice = (typeof metadataPolicies)[number];
export type WorkChoice = (typeof works)[number];

export interface Options {
  format: FormatChoice;
  goal: GoalChoice;
  /** Encoder quality, 1 to 100. */
  quality: number;
  /** The SSIM floor: the contract takes 0.5 to 1, the page offers the useful band. */
  minSsim: number;
  /** The largest output, in kilobytes (1000 bytes). */
  maxKilobytes: number;
  /**
   * With the max-size goal: shrink the dimensions until the file fits rather than fail (shrink_to_fit). On by
   * default: a person asking for 50 KB wants a file of 50 KB, and the row says when it was resized.
   */
  shrinkToFit: boolean;
  /** 0: no limit. */
  maxWidth: number;
  /** 0: no limit. */
  maxHeight: number;
  metadata: MetadataChoice;
  work: WorkChoice;
  /** Detection: only objects scored at least this (0.05 to 0.95). */
  minScore: number;
  /** Detection: at most this many objects per image, the highest scored first. */
  maxObjects: number;
  /** Detection: only these COCO labels, each once; empty for all 80. */
  labels: string[];
}

export const defaultOptions: Readonly<Options> = Object.freeze({
  format: "auto",
  goal: "quality",
  quality: 80,
  minSsim: 0.98,
  maxKilobytes: 250,
  shrinkToFit: true,
  maxWidth: 0,
  maxHeight: 0,
  metadata: "strip",
  work: "compress",
  // The contract's defaults (DetectionOptions), said here so that the form shows them.
  minScore: 0.5,
  maxObjects: 20,
  labels: [],
});

export const limits = {
  quality: OPTION_LIMITS.quality,
  minSsim: { min: 0.85, max: 0.995 },
  maxKilobytes: { min: 1, max: 1_000_000 },
  side: OPTION_LIMITS.side,
  minScore: { min: 0.05, max: 0.95 },
  maxObjects: { min: 1, max: OPTION_LIMITS.maxObjects.max },
} as const;

function pick<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

function inRange(value: unknown, range: { min: number; max: number }, fallback: number, integer = true): number {
  if (typeof value !== "number" || !Number.isFinite(value)) return fallback;
  if (integer && !Number.isInteger(value)) return fallback;
  return value < range.min || value > range.max ? fallback : value;
}

/** The COCO labels in a list (each once, in its order), or undefined when one is not a COCO label. */
export function cocoLabels(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const labels = [...new Set(value)];
  return labels.every((label) => typeof label === "string" && isCocoLabel(label)) ? labels : undefined;
}

/** The labels typed in a field, "person, cup" or "person;cup", in lower case as COCO spells them. */
export function parseLabels(text: string): string[] {
  return text
    .split(/[,;]/)
    .map((label) => label.trim().toLowerCase())
    .filter((label) => label !== "");
}

/** Any value (what storage held, what a form produced) as valid options: bad fields take their default. */
export function sanitizeOptions(value: unknown): Options {
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const d = defaultOptions;
  return {
    format: pick(v.format, formats, d.format),
    goal: pick(v.goal, goals, d.goal),
    quality: inRange(v.quality, limits.quality, d.quality),
    minSsim: inRange(v.minSsim, limits.minSsim, d.minSsim, false),
    maxKilobytes: inRange(v.maxKilobytes, limits.maxKilobytes, d.maxKilobytes),
    shrinkToFit: typeof v.shrinkToFit === "boolean" ? v.shrinkToFit : d.shrinkToFit,
    maxWidth: inRange(v.maxWidth, limits.side, d.maxWidth),
    maxHeight: inRange(v.maxHeight, limits.side, d.maxHeight),
    metadata: pick(v.metadata, metadataPolicies, d.metadata),
    // Saved before detection had its own choices: `detect: true` was compress and detect.
    work: pick(v.work, works, v.detect === true ? "compress-detect" : d.work),
    minScore: inRange(v.minScore, limits.minScore, d.minScore, false),
    maxObjects: inRange(v.maxObjects, limits.maxObjects, d.maxObjects),
    labels: cocoLabels(v.labels) ?? [...d.labels],
  };
}

/** Whether the options ask for object detection (with compression or alone). */
export function detects(o: Options): boolean {
  return o.work !== "compress";
}

const storageKey = "imgc.options.v1";

export function loadOptions(): Options {
  return sanitizeOptions(loadJson(storageKey));
}

export function saveOptions(options: Options): void {
  saveJson(storageKey, options);
}

const imageFormatOf: Record<FormatChoice, ImageFormat> = {
  auto: ImageFormat.AUTO,
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  png: ImageFormat.PNG,
  keep: ImageFormat.KEEP,
};

/** A format choice in words: the contract's name of its format ("WebP"); Auto and Keep name none. */
export function formatLabel(choice: FormatChoice): string {
  return formatName(imageFormatOf[choice]) || (choice === "auto" ? "Auto" : "Keep");
}

const metadataOf: Record<MetadataChoice, MetadataPolicy> = {
  strip: MetadataPolicy.STRIP,
  "keep-copyright": MetadataPolicy.STRIP_KEEP_COPYRIGHT,
  "keep-all": MetadataPolicy.KEEP_ALL,
};

function targetOf(o: Options): MessageInitShape<typeof CompressionOptionsSchema>["target"] {
  switch (o.goal) {
    case "quality":
      return { goal: { case: "quality", value: o.quality } };
    case "ssim":
      return { goal: { case: "minSsim", value: o.minSsim } };
    case "max-size":
      return { goal: { case: "maxBytes", value: BigInt(o.maxKilobytes) * 1000n } };
    case "lossless":
      return { goal: { case: "lossless", value: true } };
  }
}

export function toCompressionOptions(o: Options): MessageInitShape<typeof CompressionOptionsSchema> {
  return {
    format: imageFormatOf[o.format],
    target: targetOf(o),
    resize: { maxWidth: o.maxWidth, maxHeight: o.maxHeight },
    metadata: metadataOf[o.metadata],
    // Only a byte budget can be shrunk to; with any other goal the server refuses the option.
    ...(o.goal === "max-size" && o.shrinkToFit ? { shrinkToFit: true } : {}),
  };
}

const tasksOf: Record<WorkChoice, TaskKind[]> = {
  // No tasks: the server's default, compression.
  compress: [],
  "compress-detect": [TaskKind.COMPRESS, TaskKind.DETECT],
  detect: [TaskKind.DETECT],
};

/** What a job with these options is asked to do: its tasks, compression options and detection options. */
export function toJobWork(o: Options): JobWork {
  return {
    options: toCompressionOptions(o),
    tasks: tasksOf[o.work],
    ...(detects(o) ? { detection: { minScore: o.minScore, maxObjects: o.maxObjects, labels: [...o.labels] } } : {}),
  };
}
