/**
 * The compression engine as the runtime sees it. `pipeline/index.ts` implements `compress`; the runtime takes
 * it through its deps so that everything around it can be tested with a fake engine.
 */
import type { CompressionOptions, ErrorCode, ImageFormat } from "@imgc/proto";

export interface Limits {
  maxInputBytes: number;
  maxPixels: number;
  maxFrames: number;
  timeoutMs: number;
}

export interface CompressOutcome {
  kind: "compressed" | "kept-original";
  /** The bytes to write: the original bytes for kept-original. */
  data: Buffer;
  format: ImageFormat;
  inputFormat: ImageFormat;
  extension: string;
  contentType: string;
  width: number;
  height: number;
  /** 0 when lossless. */
  quality: number;
  ssim?: number;
  keptReason?: string;
}

export interface Engine {
  compress(input: Buffer, options: CompressionOptions, limits: Limits, signal?: AbortSignal): Promise<CompressOutcome>;
  /** The stable code of an error the engine threw on purpose (a CompressError); undefined for anything else. */
  errorCode(err: unknown): ErrorCode | undefined;
  /**
   * The engine for one image, once it can start at once (a child process that is up): the time spent waiting
   * for that is the engine's, not the image's, and does not count against the image's timeout. Released after.
   */
  lease?(signal?: AbortSignal): Promise<EngineLease>;
}

export interface EngineLease {
  compress(input: Buffer, options: CompressionOptions, limits: Limits, signal?: AbortSignal): Promise<CompressOutcome>;
  release(): void;
}
