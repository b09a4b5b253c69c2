import { ErrorCode } from "@imgc/proto";

const brand = Symbol.for("imgc.CompressError");

/** A failure of one image, with a stable code the worker reports as the item's error_code. */
export class CompressError extends Error {
  readonly code: ErrorCode;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CompressError";
    this.code = code;
  }

  // A brand rather than instanceof: tests and the runtime may load this module twice (vitest, tsx).
  static isCompressError(e: unknown): e is CompressError {
    return typeof e === "object" && e !== null && (e as { [brand]?: unknown })[brand] === true;
  }
}

export const fail = (code: ErrorCode, message: string, cause?: unknown): never => {
  throw new CompressError(code, message, cause === undefined ? undefined : { cause });
};

/** The first line of a libvips message, without the loader's prefix: enough for a person, no internals. */
const detail = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.replace(/^Input (buffer|file) (has|contains) /i, "").slice(0, 200);
};

/**
 * Turns whatever sharp threw into a CompressError. Errors already classified pass through. While decoding
 * (`decoding` names the input format, which was recognised from its bytes) a libvips failure means a damaged
 * file: CORRUPT_INPUT. While encoding, the input already decoded, so a failure is ours: INTERNAL.
 */
export const classify = (e: unknown, decoding?: string): CompressError => {
  if (CompressError.isCompressError(e)) return e;
  const text = e instanceof Error ? e.message : String(e);
  const make = (code: ErrorCode, message: string) => new CompressError(code, message, { cause: e });
  if (/exceeds pixel limit/i.test(text))
    return make(ErrorCode.PIXEL_LIMIT, "The image has more pixels than this worker accepts");
  if (/timeout/i.test(text)) return make(ErrorCode.TIMEOUT, "Processing the image took longer than the time limit");
  if (/Unsupported JPEG data precision/i.test(text)) {
    return make(ErrorCode.UNSUPPORTED_FORMAT, "The JPEG is not 8-bit; only 8-bit JPEG is supported");
  }
  if (/unsupported image format/i.test(text)) {
    return make(ErrorCode.UNSUPPORTED_FORMAT, "The file is not an image in a supported format");
  }
  if (decoding === undefined || /^Expected /.test(text)) {
    return make(ErrorCode.INTERNAL, "The image could not be encoded because of an internal error");
  }
  return make(ErrorCode.CORRUPT_INPUT, `The ${decoding} file is damaged and cannot be decoded (${detail(e)})`);
};
