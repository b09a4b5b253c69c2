import { ErrorCode } from "@imgc/proto";
import { ItemError } from "../item-error.js";

export const fail = (code: ErrorCode, message: string, cause?: unknown): never => {
  throw new ItemError(code, message, cause === undefined ? undefined : { cause });
};

/** The first line of a libvips message, without the loader's prefix: enough for a person, no internals. */
const detail = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.replace(/^Input (buffer|file) (has|contains) /i, "").slice(0, 200);
};

/**
 * Turns whatever sharp threw into an ItemError. Errors already classified pass through. While decoding
 * (`decoding` names the input format, which was recognised from its bytes) a libvips failure means a damaged
 * file: CORRUPT_INPUT. While encoding, the input already decoded, so a failure is ours: INTERNAL.
 */
export const classify = (e: unknown, decoding?: string): ItemError => {
  if (ItemError.is(e)) return e;
  const text = e instanceof Error ? e.message : String(e);
  const make = (code: ErrorCode, message: string) => new ItemError(code, message, { cause: e });
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
