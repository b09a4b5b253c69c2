import { create } from "@bufbuild/protobuf";
import { ItemDetectionSchema } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { placements } from "./detection-boxes.js";

const detection = create(ItemDetectionSchema, {
  sourceWidth: 200,
  sourceHeight: 100,
  objects: [
    {
      label: "cup",
      score: 0.923,
      sourceBox: { x: 50, y: 25, width: 100, height: 50 },
      box: { x: 25, y: 12, width: 50, height: 25 },
    },
    { label: "person", score: 0.5, sourceBox: { x: 0, y: 0, width: 20, height: 10 } },
  ],
});

describe("detection boxes", () => {
  test("the original's boxes are placed in percent of the source, with label and score", () => {
    expect(placements(detection, "source", 100, 50)).toEqual([
      { text: "cup 92%", left: 25, top: 25, width: 50, height: 50 },
      { text: "person 50%", left: 0, top: 0, width: 10, height: 10 },
    ]);
  });

  test("the result's boxes are placed in percent of the output; an object without one there is left out", () => {
    expect(placements(detection, "output", 100, 50)).toEqual([
      { text: "cup 92%", left: 25, top: 24, width: 50, height: 50 },
    ]);
  });

  test("nothing is drawn without a detection or a size to place it in", () => {
    expect(placements(undefined, "source", 100, 50)).toEqual([]);
    expect(placements(detection, "output", 0, 0)).toEqual([]);
  });
});
