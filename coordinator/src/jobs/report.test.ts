import { create } from "@bufbuild/protobuf";
import { ItemResultSchema, ItemState, JobSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { reportCsv, reportJson } from "./report.js";

describe("report CSV", () => {
  it("defuses every cell a spreadsheet could run as a formula, leading tab and CR included", () => {
    const cells = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"];
    const csv = reportCsv(
      cells.map((sourceKey, i) => create(ItemResultSchema, { itemId: String(i), sourceKey, state: ItemState.FAILED })),
    );
    const rows = csv
      .trimEnd()
      .split(/\n(?=\d)/)
      .slice(1);
    expect(rows.map((row) => row.split(",")[1])).toEqual(["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\t=1+1", '"\'\r=1+1"']);
  });
});

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

  it("lists each label found once in the CSV's last column", () => {
    const [header, row] = reportCsv([result]).trimEnd().split("\n");
    expect(header?.split(",").at(-1)).toBe("labels");
    expect(row?.split(",").at(-1)).toBe("cup;person");
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
