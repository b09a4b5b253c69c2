/**
 * The compression options a person picks, as plain data (remembered in localStorage), and their translation
 * into the contract's CompressionOptions; and whether objects are detected too (the job's tasks).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type CompressionOptionsSchema,
  formatName,
  ImageFormat,
  MetadataPolicy,
  OPTION_LIMITS,
  TaskKind,
} from "@imgc/proto";
import { loadJson, saveJson } from "./storage.js";

export const formats = ["auto", "jpeg", "webp", "avif", "png", "keep"] as const;
export const goals = ["quality", "ssim", "max-size", "lossless"] as const;
export const metadataPolicies = ["strip", "keep-copyright", "keep-all"] as const;

export type FormatChoice = (typeof formats)[number];
export type GoalChoice = (typeof goals)[number];
export type MetadataChoice = (typeof metadataPolicies)[number];

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
  /** Also detect the objects in each image (labels and boxes). */
  detect: boolean;
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
  detect: false,
});

export const limits = {
  quality: OPTION_LIMITS.quality,
  minSsim: { min: 0.85, max: 0.995 },
  maxKilobytes: { min: 1, max: 1_000_000 },
  side: OPTION_LIMITS.side,
} as const;

function pick<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

function inRange(value: unknown, range: { min: number; max: number }, fallback: number, integer = true): number {
  if (typeof value !== "number" || !Number.isFinite(value)) return fallback;
  if (integer && !Number.isInteger(value)) return fallback;
  return value < range.min || value > range.max ? fallback : value;
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
    detect: typeof v.detect === "boolean" ? v.detect : d.detect,
  };
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

/** The job's tasks: compress, and detect when asked (the detection options keep the server's defaults). */
export function toTasks(o: Options): TaskKind[] {
  return o.detect ? [TaskKind.COMPRESS, TaskKind.DETECT] : [];
}
