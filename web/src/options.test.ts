import { ImageFormat, MetadataPolicy, TaskKind } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { defaultOptions, formatLabel, formats, sanitizeOptions, toCompressionOptions, toTasks } from "./options.js";

describe("sanitizeOptions", () => {
  test("garbage and missing fields take their defaults", () => {
    expect(sanitizeOptions(undefined)).toEqual(defaultOptions);
    expect(sanitizeOptions("nope")).toEqual(defaultOptions);
    expect(
      sanitizeOptions({
        format: "bmp",
        goal: 3,
        quality: 101,
        minSsim: 0.2,
        maxWidth: -5,
        maxHeight: 1.5,
        metadata: "x",
      }),
    ).toEqual(defaultOptions);
  });

  test("valid values survive", () => {
    const picked = {
      format: "avif",
      goal: "ssim",
      quality: 55,
      minSsim: 0.95,
      maxKilobytes: 120,
      shrinkToFit: false,
      maxWidth: 1920,
      maxHeight: 0,
      metadata: "keep-copyright",
      detect: true,
    } as const;
    expect(sanitizeOptions(picked)).toEqual(picked);
  });
});

describe("toCompressionOptions", () => {
  test("each goal becomes its target", () => {
    const base = { ...defaultOptions, maxKilobytes: 150 };
    expect(toCompressionOptions({ ...base, goal: "quality", quality: 72 }).target).toEqual({
      goal: { case: "quality", value: 72 },
    });
    expect(toCompressionOptions({ ...base, goal: "ssim", minSsim: 0.97 }).target).toEqual({
      goal: { case: "minSsim", value: 0.97 },
    });
    expect(toCompressionOptions({ ...base, goal: "max-size" }).target).toEqual({
      goal: { case: "maxBytes", value: 150_000n },
    });
    expect(toCompressionOptions({ ...base, goal: "lossless" }).target).toEqual({
      goal: { case: "lossless", value: true },
    });
  });

  test("the max-size goal shrinks to fit by default; off when unticked, and never with another goal", () => {
    expect(defaultOptions.shrinkToFit).toBe(true);
    expect(toCompressionOptions({ ...defaultOptions, goal: "max-size" }).shrinkToFit).toBe(true);
    expect(
      toCompressionOptions({ ...defaultOptions, goal: "max-size", shrinkToFit: false }).shrinkToFit,
    ).toBeUndefined();
    expect(toCompressionOptions({ ...defaultOptions, goal: "quality" }).shrinkToFit).toBeUndefined();
    expect(sanitizeOptions({ shrinkToFit: "yes" }).shrinkToFit).toBe(true);
  });

  test("format, resize and metadata map onto the contract's enums", () => {
    const o = toCompressionOptions({ ...defaultOptions, format: "webp", maxWidth: 800, metadata: "keep-all" });
    expect(o.format).toBe(ImageFormat.WEBP);
    expect(o.resize).toEqual({ maxWidth: 800, maxHeight: 0 });
    expect(o.metadata).toBe(MetadataPolicy.KEEP_ALL);
    expect(toCompressionOptions(defaultOptions).format).toBe(ImageFormat.AUTO);
  });
});

describe("toTasks", () => {
  test("Detect objects asks for compression and detection; off, the server's default (compress)", () => {
    expect(toTasks({ ...defaultOptions, detect: true })).toEqual([TaskKind.COMPRESS, TaskKind.DETECT]);
    expect(toTasks(defaultOptions)).toEqual([]);
    expect(sanitizeOptions({ detect: "yes" }).detect).toBe(false);
  });
});

test("each format choice reads as the contract names its format", () => {
  expect(formats.map(formatLabel)).toEqual(["Auto", "JPEG", "WebP", "AVIF", "PNG", "Keep"]);
});
