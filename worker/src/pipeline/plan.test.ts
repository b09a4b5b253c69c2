import { ChromaSubsampling, ErrorCode, Fit, ImageFormat, MetadataPolicy, QualityLevel } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { ItemError } from "../item-error.js";
import { planOf } from "./plan.js";
import { options } from "./test-support.js";

const rejection = (init: Parameters<typeof options>[0]): string => {
  try {
    planOf(options(init));
  } catch (e) {
    if (ItemError.is(e) && e.code === ErrorCode.INVALID_OPTIONS) return e.message;
    throw e;
  }
  throw new Error("expected INVALID_OPTIONS");
};

describe("planOf", () => {
  it("gives every field its default at zero", () => {
    expect(planOf(options())).toEqual({
      format: "auto",
      autoFormats: [],
      // AUTO's default target: the look of a plain q80 JPEG of the image, by SSIMULACRA 2.
      goal: { kind: "min-score", minScore: "jpeg-q80" },
      resize: undefined,
      metadata: "strip",
      effort: 0,
      progressive: false,
      nearLossless: false,
      chroma: undefined,
      palette: false,
      flattenAnimation: false,
      neverLarger: true,
    });
  });

  it("maps every option", () => {
    const plan = planOf(
      options({
        format: ImageFormat.KEEP,
        autoFormats: [ImageFormat.AVIF, ImageFormat.AVIF, ImageFormat.PNG],
        target: { goal: { case: "maxBytes", value: 5000n } },
        resize: { maxWidth: 100, fit: Fit.COVER, allowEnlarge: true },
        metadata: MetadataPolicy.STRIP_KEEP_COPYRIGHT,
        effort: 9,
        progressive: true,
        nearLossless: true,
        chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444,
        palette: true,
        flattenAnimation: true,
        allowLarger: true,
      }),
    );
    expect(plan).toEqual({
      format: "keep",
      autoFormats: [ImageFormat.AVIF, ImageFormat.PNG],
      goal: { kind: "max-bytes", maxBytes: 5000 },
      resize: { maxWidth: 100, maxHeight: 0, fit: "cover", allowEnlarge: true },
      metadata: "strip-keep-copyright",
      effort: 9,
      progressive: true,
      nearLossless: true,
      chroma: "4:4:4",
      palette: true,
      flattenAnimation: true,
      neverLarger: false,
    });
    expect(planOf(options({ metadata: MetadataPolicy.KEEP_ALL })).metadata).toBe("keep-all");
    expect(planOf(options({ target: { goal: { case: "lossless", value: true } } })).goal).toEqual({ kind: "lossless" });
    expect(planOf(options({ target: { goal: { case: "minSsim", value: 0.95 } } })).goal).toEqual({
      kind: "min-ssim",
      minSsim: 0.95,
    });
  });

  it("a single format or KEEP without a target keeps its default quality", () => {
    expect(planOf(options({ format: ImageFormat.WEBP })).goal).toEqual({ kind: "default" });
    expect(planOf(options({ format: ImageFormat.KEEP })).goal).toEqual({ kind: "default" });
  });

  it("maps perceptual targets: a score, or a named level", () => {
    const goal = (target: Parameters<typeof options>[0]) => planOf(options(target)).goal;
    expect(goal({ target: { goal: { case: "minScore", value: 85 } } })).toEqual({ kind: "min-score", minScore: 85 });
    const level = (value: QualityLevel) =>
      goal({ format: ImageFormat.WEBP, target: { goal: { case: "level", value } } });
    expect(level(QualityLevel.VISUALLY_LOSSLESS)).toEqual({ kind: "min-score", minScore: 90 });
    expect(level(QualityLevel.HIGH)).toEqual({ kind: "min-score", minScore: 80 });
    expect(level(QualityLevel.MEDIUM)).toEqual({ kind: "min-score", minScore: 70 });
    expect(level(QualityLevel.JPEG_Q80)).toEqual({ kind: "min-score", minScore: "jpeg-q80" });
    expect(level(QualityLevel.UNSPECIFIED)).toEqual({ kind: "min-score", minScore: "jpeg-q80" });
  });

  it("rejects what it cannot honour, saying what it expected", () => {
    expect(rejection({ target: { goal: { case: "quality", value: 0 } } })).toBe(
      "Expected a quality between 1 and 100 but received 0",
    );
    expect(rejection({ target: { goal: { case: "minSsim", value: 1.5 } } })).toMatch(/between 0.5 and 1/);
    expect(rejection({ target: { goal: { case: "maxBytes", value: 0n } } })).toMatch(/at least 1/);
    expect(rejection({ target: { goal: { case: "minScore", value: 120 } } })).toBe(
      "Expected a min score between 30 and 100 but received 120",
    );
    expect(rejection({ target: { goal: { case: "minScore", value: Number.NaN } } })).toMatch(/between 30 and 100/);
    expect(rejection({ target: { goal: { case: "level", value: 99 as QualityLevel } } })).toMatch(
      /Expected a quality level .* but received 99/,
    );
    expect(rejection({ effort: 11 })).toMatch(/effort between 0 and 10/);
    expect(rejection({ format: ImageFormat.TIFF })).toMatch(/TIFF is not an output format/);
    expect(rejection({ autoFormats: [ImageFormat.SVG] })).toMatch(/not SVG/);
  });
});
