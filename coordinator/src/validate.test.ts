import { create } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, Fit } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { optionProblems } from "./validate.js";

const resize = (maxWidth: number, maxHeight: number, fit: Fit, allowEnlarge: boolean) =>
  optionProblems(create(CompressionOptionsSchema, { resize: { maxWidth, maxHeight, fit, allowEnlarge } }));

describe("resize validation", () => {
  it("refuses a box over 100 megapixels that the output would fill: enlargement, or contain", () => {
    expect(resize(11_500, 11_500, Fit.FILL, true)).toEqual([
      "options.resize: expected max_width × max_height of at most 100000000 pixels with allow_enlarge or fit CONTAIN but received 11500 × 11500",
    ]);
    expect(resize(65_535, 65_535, Fit.CONTAIN, false)).toHaveLength(1);
    expect(resize(65_535, 65_535, Fit.INSIDE, true)).toHaveLength(1);
  });

  it("accepts a large box that only bounds the output, and any box within the limit", () => {
    expect(resize(65_535, 65_535, Fit.INSIDE, false)).toEqual([]);
    expect(resize(65_535, 65_535, Fit.FILL, false)).toEqual([]);
    expect(resize(10_000, 10_000, Fit.FILL, true)).toEqual([]);
  });
});
