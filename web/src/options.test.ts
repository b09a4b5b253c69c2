import { ImageFormat, MetadataPolicy, TaskKind } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import {
  defaultOptions,
  formatLabel,
  formats,
  parseLabels,
  sanitizeOptions,
  toCompressionOptions,
  toJobWork,
} from "./options.js";

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
        work: "describe",
        minScore: 1,
        maxObjects: 101,
        labels: ["cup", "unicorn"],
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
      work: "detect",
      minScore: 0.35,
      maxObjects: 5,
      labels: ["person", "cup"],
    } as const;
    expect(sanitizeOptions(picked)).toEqual(picked);
  });

  test("options saved before detection had its choices keep what they asked", () => {
    expect(sanitizeOptions({ detect: true }).work).toBe("compress-detect");
    expect(sanitizeOptions({ detect: false }).work).toBe("compress");
    expect(sanitizeOptions({ detect: "yes" }).work).toBe("compress");
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

describe("toJobWork", () => {
  test("compress asks for the server's default tasks and no detection", () => {
    const work = toJobWork(defaultOptions);
    expect(work.tasks).toEqual([]);
    expect(work.detection).toBeUndefined();
    expect(work.options).toEqual(toCompressionOptions(defaultOptions));
  });

  test("compress + detect and detect only ask for their tasks, with the detection options picked", () => {
    const picked = { ...defaultOptions, minScore: 0.3, maxObjects: 7, labels: ["cup", "person"] };
    const expected = { minScore: 0.3, maxObjects: 7, labels: ["cup", "person"] };
    expect(toJobWork({ ...picked, work: "compress-detect" })).toMatchObject({
      tasks: [TaskKind.COMPRESS, TaskKind.DETECT],
      detection: expected,
    });
    expect(toJobWork({ ...picked, work: "detect" })).toMatchObject({ tasks: [TaskKind.DETECT], detection: expected });
  });

  test("typed labels are read as COCO spells them; anything else is refused whole", () => {
    expect(parseLabels(" Person, cup;;TV ,")).toEqual(["person", "cup", "tv"]);
    expect(sanitizeOptions({ labels: ["person", "person", "cup"] }).labels).toEqual(["person", "cup"]);
    expect(sanitizeOptions({ labels: ["person", "persons"] }).labels).toEqual([]);
  });
});

test("each format choice reads as the contract names its format", () => {
  expect(formats.map(formatLabel)).toEqual(["Auto", "JPEG", "WebP", "AVIF", "PNG", "Keep"]);
});
