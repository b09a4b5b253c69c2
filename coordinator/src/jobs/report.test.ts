import { create } from "@bufbuild/protobuf";
import { ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { reportCsv } from "./report.js";

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
