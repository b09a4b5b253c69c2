import {
  ChromaSubsampling,
  type CompressionOptions,
  ErrorCode,
  Fit,
  ImageFormat,
  isOutputFormat,
  MetadataPolicy,
  OPTION_LIMITS,
  type OutputFormat,
  QualityLevel,
} from "@imgc/proto";
import { fail } from "./errors.js";

/** The size/quality goal, with the proto's oneof resolved and validated. */
export type Goal =
  | { readonly kind: "default" }
  | { readonly kind: "quality"; readonly quality: number }
  | { readonly kind: "lossless" }
  | { readonly kind: "min-ssim"; readonly minSsim: number }
  | { readonly kind: "min-score"; readonly minScore: number | "jpeg-q80" }
  | { readonly kind: "max-bytes"; readonly maxBytes: number };

export interface ResizePlan {
  readonly maxWidth: number;
  readonly maxHeight: number;
  readonly fit: "inside" | "cover" | "contain" | "fill" | "outside";
  readonly allowEnlarge: boolean;
}

/** CompressionOptions with every default applied: what the rest of the engine reads. */
export interface Plan {
  /** AUTO, KEEP, or one output format. */
  readonly format: "auto" | "keep" | OutputFormat;
  /** The formats AUTO may choose from; empty for the default set, which depends on the image. */
  readonly autoFormats: readonly OutputFormat[];
  readonly goal: Goal;
  readonly resize: ResizePlan | undefined;
  readonly metadata: "strip" | "strip-keep-copyright" | "keep-all";
  /** 0 for each encoder's default, else 1 (fast) to 10 (slow, smaller). */
  readonly effort: number;
  readonly progressive: boolean;
  readonly nearLossless: boolean;
  readonly chroma: "4:2:0" | "4:4:4" | undefined;
  readonly palette: boolean;
  readonly flattenAnimation: boolean;
  readonly neverLarger: boolean;
  /**
   * Shrink the dimensions until max_bytes fits (see shrink.ts). Absent rather than false when off, so that
   * optionsHash of every older job is unchanged.
   */
  readonly shrinkToFit?: true;
}

const invalid = (message: string): never => fail(ErrorCode.INVALID_OPTIONS, message);

type Limit = { readonly min: number; readonly max: number };
const within = (value: number, { min, max }: Limit) => value >= min && value <= max;
const expected = (what: string, { min, max }: Limit, value: number) =>
  `Expected ${what} between ${min} and ${max} but received ${value}`;

/**
 * The SSIMULACRA 2 score of each named level, on the scale its authors calibrated against viewers' ratings
 * (ssimulacra2's README): 90 visually lossless (flicker test), 80 very high (side by side), 70 high (no
 * artifacts noticed without the original). JPEG_Q80 (and a level left unset) is relative: the score a plain
 * JPEG at quality 80, the web's everyday default, reaches on the image itself.
 */
export const levelScore: Record<QualityLevel, number | "jpeg-q80"> = {
  [QualityLevel.UNSPECIFIED]: "jpeg-q80",
  [QualityLevel.JPEG_Q80]: "jpeg-q80",
  [QualityLevel.VISUALLY_LOSSLESS]: 90,
  [QualityLevel.HIGH]: 80,
  [QualityLevel.MEDIUM]: 70,
};

const goalOf = (options: CompressionOptions): Goal => {
  const goal = options.target?.goal;
  switch (goal?.case) {
    case undefined:
      // AUTO's job is to choose: by default it chooses what looks the same for the fewest bytes.
      return formatOf(options.format) === "auto"
        ? { kind: "min-score", minScore: levelScore[QualityLevel.UNSPECIFIED] }
        : { kind: "default" };
    case "minScore":
      if (!within(goal.value, OPTION_LIMITS.minScore))
        invalid(expected("a min score", OPTION_LIMITS.minScore, goal.value));
      return { kind: "min-score", minScore: goal.value };
    case "level": {
      const score = levelScore[goal.value];
      if (score === undefined)
        invalid(`Expected a quality level (VISUALLY_LOSSLESS, HIGH or MEDIUM) but received ${goal.value}`);
      return { kind: "min-score", minScore: score };
    }
    case "quality":
      if (!Number.isInteger(goal.value) || !within(goal.value, OPTION_LIMITS.quality)) {
        invalid(expected("a quality", OPTION_LIMITS.quality, goal.value));
      }
      return { kind: "quality", quality: goal.value };
    case "lossless":
      return goal.value ? { kind: "lossless" } : { kind: "default" };
    case "minSsim":
      if (!within(goal.value, OPTION_LIMITS.minSsim))
        invalid(expected("a min SSIM", OPTION_LIMITS.minSsim, goal.value));
      return { kind: "min-ssim", minSsim: goal.value };
    case "maxBytes": {
      const maxBytes = Number(goal.value);
      if (maxBytes < 1) invalid("Expected max bytes of at least 1 but received 0");
      return { kind: "max-bytes", maxBytes };
    }
  }
};

const fits: Record<Fit, ResizePlan["fit"]> = {
  [Fit.UNSPECIFIED]: "inside",
  [Fit.INSIDE]: "inside",
  [Fit.COVER]: "cover",
  [Fit.CONTAIN]: "contain",
  [Fit.FILL]: "fill",
  [Fit.OUTSIDE]: "outside",
};

const resizeOf = (options: CompressionOptions): ResizePlan | undefined => {
  const r = options.resize;
  if (!r || (r.maxWidth === 0 && r.maxHeight === 0)) return undefined;
  return { maxWidth: r.maxWidth, maxHeight: r.maxHeight, fit: fits[r.fit] ?? "inside", allowEnlarge: r.allowEnlarge };
};

const formatOf = (format: ImageFormat): Plan["format"] => {
  if (format === ImageFormat.UNSPECIFIED || format === ImageFormat.AUTO) return "auto";
  if (format === ImageFormat.KEEP) return "keep";
  if (isOutputFormat(format)) return format;
  return invalid(`${ImageFormat[format] ?? format} is not an output format (JPEG, WEBP, AVIF, PNG, AUTO or KEEP)`);
};

// Shrinking has a meaning only against a byte budget: with any other goal the option would silently do nothing.
const shrinkToFitOf = (options: CompressionOptions): boolean => {
  const goal = options.target?.goal;
  if (options.shrinkToFit && goal?.case !== "maxBytes")
    invalid(
      `Expected a max bytes target with shrink to fit but received ${goal?.case ? `a ${goalName[goal.case]} target` : "no target"}`,
    );
  return options.shrinkToFit;
};

const goalName: Record<NonNullable<NonNullable<CompressionOptions["target"]>["goal"]["case"]>, string> = {
  quality: "quality",
  lossless: "lossless",
  minSsim: "min SSIM",
  maxBytes: "max bytes",
  minScore: "min score",
  level: "quality level",
};

export const planOf = (options: CompressionOptions): Plan => {
  const autoFormats = [...new Set(options.autoFormats)].map((f) =>
    isOutputFormat(f) ? f : invalid(`AUTO can only choose JPEG, WEBP, AVIF or PNG, not ${ImageFormat[f] ?? f}`),
  );
  if (!within(options.effort, OPTION_LIMITS.effort))
    invalid(expected("an effort", OPTION_LIMITS.effort, options.effort));
  return {
    format: formatOf(options.format),
    autoFormats,
    goal: goalOf(options),
    resize: resizeOf(options),
    metadata:
      options.metadata === MetadataPolicy.KEEP_ALL
        ? "keep-all"
        : options.metadata === MetadataPolicy.STRIP_KEEP_COPYRIGHT
          ? "strip-keep-copyright"
          : "strip",
    effort: options.effort,
    progressive: options.progressive,
    nearLossless: options.nearLossless,
    chroma:
      options.chromaSubsampling === ChromaSubsampling.CHROMA_SUBSAMPLING_444
        ? "4:4:4"
        : options.chromaSubsampling === ChromaSubsampling.CHROMA_SUBSAMPLING_420
          ? "4:2:0"
          : undefined,
    palette: options.palette,
    flattenAnimation: options.flattenAnimation,
    neverLarger: !options.allowLarger,
    ...(shrinkToFitOf(options) ? { shrinkToFit: true as const } : {}),
  };
};
