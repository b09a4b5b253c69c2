/**
 * The ranges CompressionOptions' numbers must lie in: the coordinator refuses a job outside them
 * (coordinator/src/validate.ts), a worker refuses such options again (worker/src/pipeline/plan.ts), and the
 * CLI and the web page offer only values inside them.
 */
export const OPTION_LIMITS = {
  /** target.quality: the encoder's quality. */
  quality: { min: 1, max: 100 },
  /** target.min_ssim. */
  minSsim: { min: 0.5, max: 1 },
  /** target.min_score (SSIMULACRA 2): below 30 every output is visibly, annoyingly degraded. */
  minScore: { min: 30, max: 100 },
  /** effort: 0 for each encoder's default, else 1 (fast) to 10 (slow, smaller). */
  effort: { min: 0, max: 10 },
  /** resize.max_width and max_height, in pixels: 0 for no limit. */
  side: { min: 0, max: 65_535 },
  /** detection.max_objects: 0 for the default (20), else at most 100 objects per image. */
  maxObjects: { min: 0, max: 100 },
} as const;

/**
 * CompressionOptions.shrink_to_fit never makes the short side of an output smaller than this, in pixels: a
 * budget that needs a smaller image fails as it would without the option.
 */
export const SHRINK_MIN_SIDE = 16;

/**
 * The most pixels a resize box may ask for when every output would fill it (fit CONTAIN, or allow_enlarge):
 * the workers' default IMGC_MAX_PIXELS.
 */
export const MAX_OUTPUT_PIXELS = 100_000_000;

/** The longest retention a job may ask for (SubmitJobRequest.retention_days) or a coordinator may set
 * (IMGC_RETENTION_DAYS): ten years. */
export const MAX_RETENTION_DAYS = 3_650;
