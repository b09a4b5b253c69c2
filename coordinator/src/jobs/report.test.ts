import { create } from "@bufbuild/protobuf";
import { ItemResultSchema, ItemState, JobSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { reportJson } from "./report.js";

// The CSV written beside it is @imgc/proto's reportCsv, tested in proto/src/report.test.ts.
describe("report with detections", () => {
  const result = create(ItemResultSchema, {
    itemId: "000000",
    sourceKey: "uploads/a/cafe.jpg",
    state: ItemState.DONE,
    detection: {
      objects: [
        {
          label: "cup",
          score: 0.9,
          sourceBox: { x: 1, y: 2, width: 3, height: 4 },
          box: { x: 0, y: 1, width: 1, height: 2 },
        },
        { label: "person", score: 0.8, sourceBox: { x: 5, y: 6, width: 7, height: 8 } },
        { label: "cup", score: 0.6, sourceBox: { x: 9, y: 9, width: 1, height: 1 } },
      ],
      sourceWidth: 20,
      sourceHeight: 20,
    },
  });

  it("keeps every object with its boxes in the JSON", () => {
    const parsed = JSON.parse(reportJson(create(JobSchema, { id: "j" }), [result]));
    expect(parsed.items[0].detection.objects).toHaveLength(3);
    expect(parsed.items[0].detection.objects[0]).toMatchObject({
      label: "cup",
      sourceBox: { x: 1, y: 2, width: 3, height: 4 },
      box: { y: 1, width: 1, height: 2 },
    });
  });
});
