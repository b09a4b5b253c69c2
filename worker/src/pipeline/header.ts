import { ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import type { Deadline } from "./deadline.js";
import { detectFormat } from "./detect.js";
import { classify } from "./errors.js";
import { formatInfo, type InputFormat } from "./formats.js";
import { checkInputSize, type Limits } from "./limits.js";
import { sanitizeSvg } from "./svg.js";

/** What the input's header says, read without decoding any pixels. */
export interface Header {
  readonly format: InputFormat;
  /** The stored width and height of one frame (before the EXIF orientation is applied). */
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  /** Pages of a multipage input that are not animation frames (TIFF pages, an AVIF sequence): 1 for most. */
  readonly pages: number;
  readonly hasAlpha: boolean;
  /** EXIF orientation 1–8 (1 when absent). */
  readonly orientation: number;
  readonly space: string;
  readonly hasProfile: boolean;
  readonly exif: Buffer | undefined;
  /** Whether the file carries any metadata a strip policy removes: EXIF, XMP, IPTC or comments. */
  readonly hasMetadata: boolean;
  readonly loop: number;
  readonly delay: readonly number[];
}

const animatable = (format: InputFormat): boolean => format === ImageFormat.GIF || format === ImageFormat.WEBP;

export const readHeader = async (input: Buffer, format: InputFormat): Promise<Header> => {
  try {
    // The pixel limit is checked by the caller from these numbers; sharp's own limit stays on for decoding.
    const m = await sharp(input, { animated: animatable(format), limitInputPixels: false }).metadata();
    // Only GIF and WebP frames are animation; the other pages of a TIFF (or an AVIF sequence) are ignored.
    const frames = animatable(format) ? Math.max(1, m.pages ?? 1) : 1;
    const width = m.width ?? 0;
    const height = frames > 1 ? (m.pageHeight ?? Math.floor((m.height ?? 0) / frames)) : (m.height ?? 0);
    return {
      format,
      width,
      height,
      frames,
      pages: animatable(format) ? 1 : Math.max(1, m.pages ?? 1),
      hasAlpha: m.hasAlpha ?? false,
      orientation: m.orientation ?? 1,
      space: m.space ?? "srgb",
      hasProfile: m.hasProfile ?? false,
      exif: m.exif,
      hasMetadata: Boolean(m.exif || m.xmp || m.iptc || (m.comments?.length ?? 0) > 0),
      loop: m.loop ?? 0,
      delay: m.delay ?? [],
    };
  } catch (e) {
    throw classify(e, formatInfo(format).name);
  }
};

/** An input as the engine reads it before deciding anything: its format, the bytes to decode, its header. */
export interface SniffedInput {
  readonly format: InputFormat;
  /** The input, or an SVG with its external references neutralised. */
  readonly decodable: Buffer;
  readonly header: Header;
}

/**
 * The first steps for any kind of work on an image (compression, detection): the byte limit, the format from
 * the bytes, an SVG made safe, the header read without decoding pixels. The caller checks the header against
 * its limits (checkHeader), since whether frames are kept is its decision.
 */
export const sniffInput = async (input: Buffer, limits: Limits, deadline: Deadline): Promise<SniffedInput> => {
  checkInputSize(input.length, limits);
  const format = detectFormat(input);
  const decodable = format === ImageFormat.SVG ? sanitizeSvg(input) : input;
  const header = await deadline.run(readHeader(decodable, format));
  return { format, decodable, header };
};
