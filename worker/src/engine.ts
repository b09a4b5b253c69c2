/**
 * The compression engine as the runtime sees it. `pipeline/index.ts` implements `compress`; the runtime takes
 * it through its deps so that everything around it can be tested with a fake engine. What an engine throws on
 * purpose for one image is an ItemError (item-error.ts), whose code is the item's; anything else is INTERNAL.
 */
import type { CompressionOptions, DetectionOptions } from "@imgc/proto";
import type { DetectOutcome } from "./detect/detector.js";
import type { CompressOutcome, Limits } from "./pipeline/index.js";

export type { CompressOutcome, Limits };

export interface Engine {
  compress(input: Buffer, options: CompressionOptions, limits: Limits, signal?: AbortSignal): Promise<CompressOutcome>;
  /** Objects in the image (a detecting engine: detect/detect-child.ts in the pool's children). */
  detect?(input: Buffer, options: DetectionOptions, limits: Limits, signal?: AbortSignal): Promise<DetectOutcome>;
  /**
   * The engine for one image, once it can start at once (a child process that is up): the time spent waiting
   * for that is the engine's, not the image's. A lease enforces `limits.timeoutMs` itself, counted only while a
   * child that is up has the image (a crashed child's retry is timed afresh). Released after.
   */
  lease?(signal?: AbortSignal): Promise<EngineLease>;
}

export interface EngineLease {
  compress(input: Buffer, options: CompressionOptions, limits: Limits, signal?: AbortSignal): Promise<CompressOutcome>;
  detect?(input: Buffer, options: DetectionOptions, limits: Limits, signal?: AbortSignal): Promise<DetectOutcome>;
  release(): void;
}
