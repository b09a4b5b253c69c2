import { create } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, QualityLevel } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { optionProblems } from "./validate.js";

const target = (goal: NonNullable<Parameters<typeof create<typeof CompressionOptionsSchema>>[1]>["target"]) =>
  optionProblems(create(CompressionOptionsSchema, { target: goal }));

describe("optionProblems: perceptual targets", () => {
  it("accepts a min score of 30 to 100 and every named level", () => {
    expect(target({ goal: { case: "minScore", value: 30 } })).toEqual([]);
    expect(target({ goal: { case: "minScore", value: 100 } })).toEqual([]);
    for (const value of [
      QualityLevel.JPEG_Q80,
      QualityLevel.VISUALLY_LOSSLESS,
      QualityLevel.HIGH,
      QualityLevel.MEDIUM,
    ]) {
      expect(target({ goal: { case: "level", value } })).toEqual([]);
    }
  });

  it("names the field and the value it refuses", () => {
    expect(target({ goal: { case: "minScore", value: 120 } })).toEqual([
      "options.target.min_score: expected a number between 30 and 100 but received 120",
    ]);
    expect(target({ goal: { case: "minScore", value: Number.NaN } })).toHaveLength(1);
    expect(target({ goal: { case: "level", value: 42 as QualityLevel } })).toEqual([
      "options.target.level: unknown value 42",
    ]);
  });
});
