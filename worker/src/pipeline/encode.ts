import { ImageFormat, type OutputFormat } from "@imgc/proto";
import type { Sharp } from "sharp";
import type { Deadline } from "./deadline.js";
import { classify } from "./errors.js";
import type { Plan } from "./plan.js";

/**
 * One encoder setting: a quality, or lossless (near-lossless WebP takes its quality too). `avifEffort` (libaom's
 * 0–9) overrides the job's effort for AVIF: a perceptual search picks a speed its time budget allows.
 */
export type Setting =
  | { readonly quality: number; readonly lossless?: false; readonly avifEffort?: number }
  | { readonly lossless: true; readonly quality?: number };

/** The encoder quality a format uses when the job sets no target. */
export const defaultQuality: Record<OutputFormat, number> = {
  [ImageFormat.JPEG]: 80,
  [ImageFormat.WEBP]: 80,
  [ImageFormat.AVIF]: 50,
  [ImageFormat.PNG]: 100,
};

// The job's effort 1 (fast) … 10 (slow) onto an encoder's own range; 0 keeps the encoder's default.
const scale = (effort: number, min: number, max: number, fallback: number): number =>
  effort === 0 ? fallback : Math.round(min + ((effort - 1) * (max - min)) / 9);

type EncodeParams = Pick<Plan, "effort" | "progressive" | "nearLossless" | "chroma" | "palette">;

/** Applies the output format's options to a pipeline. Exported for the engine benchmark's plain-sharp twin. */
export const applyFormat = (
  img: Sharp,
  format: OutputFormat,
  setting: Setting,
  params: EncodeParams,
  animation?: { loop: number; delay: readonly number[] },
): Sharp => {
  const anim = animation ? { loop: animation.loop, delay: [...animation.delay] } : {};
  switch (format) {
    case ImageFormat.JPEG:
      // mozjpeg's tools one by one: `mozjpeg: true` would force progressive on, which the job controls.
      return img.jpeg({
        quality: setting.lossless ? 100 : setting.quality,
        progressive: params.progressive,
        optimiseScans: params.progressive,
        trellisQuantisation: true,
        overshootDeringing: true,
        quantisationTable: 3,
        optimiseCoding: true,
        chromaSubsampling: setting.lossless ? "4:4:4" : (params.chroma ?? "4:2:0"),
      });
    case ImageFormat.WEBP:
      return img.webp({
        ...anim,
        effort: scale(params.effort, 0, 6, 4),
        ...(setting.lossless
          ? params.nearLossless && setting.quality !== undefined
            ? { lossless: true, nearLossless: true, quality: setting.quality }
            : { lossless: true }
          : { quality: setting.quality }),
      });
    case ImageFormat.AVIF:
      return img.avif({
        effort:
          "avifEffort" in setting && setting.avifEffort !== undefined
            ? setting.avifEffort
            : scale(params.effort, 0, 9, 4),
        ...(setting.lossless
          ? { lossless: true }
          : { quality: setting.quality, chromaSubsampling: params.chroma ?? "4:2:0" }),
      });
    case ImageFormat.PNG:
      return params.palette
        ? img.png({ palette: true, quality: setting.quality ?? 100, effort: scale(params.effort, 1, 10, 7) })
        : img.png({ compressionLevel: scale(params.effort, 0, 9, 9), adaptiveFiltering: true });
  }
};

/** What an encode starts from: decoded pixels (Source) or the input itself, streamed (stream.ts). */
export interface Encodable {
  /** A fresh pipeline, geometry, colour and metadata policy applied, ready for an output format. */
  readonly pipeline: () => Sharp;
  readonly hasAlpha: boolean;
  readonly frames: number;
  readonly loop: number;
  readonly delay: readonly number[];
  /**
   * The input format's name when the pipeline decodes the input itself (streaming, keep-all): a failure
   * there means a damaged input, not an encoder fault.
   */
  readonly decodes?: string;
}

/** An encoded image and its size (of one frame, when animated). */
export interface Encoded {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

export const encode = async (
  source: Encodable,
  format: OutputFormat,
  setting: Setting,
  plan: Plan,
  deadline: Deadline,
): Promise<Encoded> => {
  deadline.check();
  const animation = source.frames > 1 ? { loop: source.loop, delay: source.delay } : undefined;
  let img = source.pipeline().timeout({ seconds: deadline.seconds() });
  // JPEG has no alpha: composite onto white, as a browser shows a transparent image on a white page.
  if (format === ImageFormat.JPEG && source.hasAlpha) img = img.flatten({ background: "#ffffff" });
  img = applyFormat(img, format, setting, plan, animation);
  const { data, info } = await deadline.run(img.toBuffer({ resolveWithObject: true })).catch((e: unknown) => {
    throw classify(e, source.decodes);
  });
  return { data, width: info.width, height: info.pageHeight ?? info.height };
};
