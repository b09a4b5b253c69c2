import { create } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import { ErrorCode, ItemDetectionSchema, ItemResultSchema, ItemState } from "../gen/imgc/v1/job_pb.js";
import { ImageFormat } from "../gen/imgc/v1/options_pb.js";
import { CSV_COLUMNS, createReport, csvCell, reportCsv } from "./report.js";

/** What every DONE item here has in common; each adds its id, keys and sizes. */
const OUTCOME = {
  state: ItemState.DONE,
  format: ImageFormat.WEBP,
  width: 640,
  height: 480,
  quality: 80,
  ssim: 0.98765,
  durationMs: 12,
  workerId: "worker-1",
};

const done = (itemId: string, sourceKey: string, outputKey: string, input: number, output: number) =>
  create(ItemResultSchema, {
    ...OUTCOME,
    itemId,
    sourceKey,
    outputKey,
    inputBytes: BigInt(input),
    outputBytes: BigInt(output),
  });

/** The CSV's lines, without the empty string after the last CRLF. */
const linesOf = (csv: string) => {
  expect(csv.endsWith("\r\n")).toBe(true);
  return csv.split("\r\n").slice(0, -1);
};

const empty = (n: number) => ",".repeat(n);

describe("CSV escaping", () => {
  test("cells are quoted per RFC 4180: quotes doubled, commas and line breaks inside quotes", () => {
    expect(csvCell('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell("two\r\nlines")).toBe('"two\r\nlines"');
    expect(csvCell('"')).toBe('""""');
    expect(csvCell("plain text")).toBe("plain text");
    expect(csvCell("")).toBe("");
  });

  test("text a spreadsheet would run as a formula is defused, leading tab and CR included", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\t=1+1")).toBe("'\t=1+1");
    // The guard comes first, then the quoting the CR needs.
    expect(csvCell("\r=1+1")).toBe('"\'\r=1+1"');
    expect(csvCell('=A1&","')).toBe('"\'=A1&"","""');
    // Only a leading character counts.
    expect(csvCell("a=1")).toBe("a=1");
  });

  test("numbers, booleans and nulls are values, never formulas", () => {
    expect(csvCell(-12)).toBe("-12");
    expect(csvCell(2n)).toBe("2");
    expect(csvCell(true)).toBe("true");
    expect(csvCell(false)).toBe("false");
    expect(csvCell(null)).toBe("");
  });

  test("every cell of a row goes through the guard (from the coordinator's report)", () => {
    const cells = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"];
    const csv = reportCsv(
      cells.map((sourceKey, i) => create(ItemResultSchema, { itemId: String(i), sourceKey, state: ItemState.FAILED })),
    );
    const rows = linesOf(csv).slice(1, -1);
    expect(rows.map((row) => row.split(",")[1])).toEqual(["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\t=1+1", '"\'\r=1+1"']);
  });

  test("an error message that looks like a formula is defused too", () => {
    const failed = create(ItemResultSchema, {
      itemId: "000000",
      sourceKey: "a.jpg",
      state: ItemState.FAILED,
      errorCode: ErrorCode.CORRUPT_INPUT,
      errorMessage: "=cmd|' /C calc'!A0",
    });
    const [, row] = linesOf(reportCsv([failed]));
    expect(row?.split(",")[CSV_COLUMNS.indexOf("error_message")]).toBe("'=cmd|' /C calc'!A0");
  });
});

describe("CSV", () => {
  test("a header row, one row per item, and a TOTAL row over the items that came out", () => {
    const failed = create(ItemResultSchema, {
      itemId: "000002",
      sourceKey: "uploads/t/x/bad, file.jpg",
      state: ItemState.FAILED,
      inputBytes: 10n,
      errorCode: ErrorCode.CORRUPT_INPUT,
      errorMessage: 'not a "JPEG"',
      workerId: "worker-2",
    });
    const pending = create(ItemResultSchema, {
      itemId: "000003",
      sourceKey: "uploads/t/y/p.png",
      state: ItemState.PENDING,
    });
    const csv = reportCsv([
      done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250),
      done("000001", "uploads/t/b/a.png", "outputs/t/j/000001.webp", 3000, 1000),
      failed,
      pending,
    ]);
    expect(linesOf(csv)).toEqual([
      "item_id,source_key,name,state,input_bytes,output_bytes,bytes_saved,saving_percent,format,width,height,quality,ssim,duration_ms,worker_id,cache_hit,error_code,error_message,kept_reason,output_key,download_url,shrunk_from_width,shrunk_from_height,labels",
      "000000,uploads/t/a/a.jpg,a.webp,DONE,1000,250,750,75,WEBP,640,480,80,0.9877,12,worker-1,false,,,,outputs/t/j/000000.webp,,,,",
      "000001,uploads/t/b/a.png,a (2).webp,DONE,3000,1000,2000,66.7,WEBP,640,480,80,0.9877,12,worker-1,false,,,,outputs/t/j/000001.webp,,,,",
      `000002,"uploads/t/x/bad, file.jpg",,FAILED,10${empty(10)}worker-2,,CORRUPT_INPUT,"not a ""JPEG"""${empty(6)}`,
      `000003,uploads/t/y/p.png,,PENDING,0${empty(19)}`,
      `TOTAL,4 items,,"2 done, 0 kept, 1 failed, 1 pending",4000,1250,2750,68.8${empty(16)}`,
    ]);
  });

  test("a kept original, a cache hit and a presigned URL fill their columns", () => {
    const kept = create(ItemResultSchema, {
      ...done("000000", "uploads/t/a/a.png", "outputs/t/j/000000.png", 500, 500),
      state: ItemState.KEPT_ORIGINAL,
      format: ImageFormat.PNG,
      cacheHit: true,
      keptReason: "output was not smaller",
      downloadUrl: "http://127.0.0.1:9000/bucket/outputs/t/j/000000.png?X-Amz-Signature=abc",
    });
    const [header, row] = linesOf(reportCsv([kept]));
    const cells = Object.fromEntries(header?.split(",").map((column, i) => [column, row?.split(",")[i]]) ?? []);
    expect(cells).toMatchObject({
      name: "a.png",
      state: "KEPT_ORIGINAL",
      bytes_saved: "0",
      saving_percent: "0",
      cache_hit: "true",
      kept_reason: "output was not smaller",
      download_url: "http://127.0.0.1:9000/bucket/outputs/t/j/000000.png?X-Amz-Signature=abc",
    });
  });

  test("the labels column lists each label found once, separated by ';', and is the last", () => {
    const result = done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250);
    result.detection = create(ItemDetectionSchema, {
      objects: [
        { label: "person", score: 0.91, sourceBox: { x: 10, y: 20, width: 30, height: 40 } },
        { label: "cup", score: 0.8, sourceBox: { x: 1, y: 2, width: 3, height: 4 } },
        { label: "person", score: 0.7, sourceBox: { x: 50, y: 60, width: 10, height: 10 } },
      ],
    });
    const [header, row] = linesOf(reportCsv([result]));
    expect(header?.split(",").at(-1)).toBe("labels");
    expect(row).toBe(
      "000000,uploads/t/a/a.jpg,a.webp,DONE,1000,250,750,75,WEBP,640,480,80,0.9877,12,worker-1,false,,,,outputs/t/j/000000.webp,,,,person;cup",
    );
  });

  test("an item shrunk to fit its byte budget says the size it was shrunk from", () => {
    const shrunk = create(ItemResultSchema, {
      ...done("000000", "uploads/t/a/bike.jpg", "outputs/t/j/000000.webp", 400_000, 49_702),
      width: 1408,
      height: 1150,
      shrunkToFit: true,
      shrunkFromWidth: 2725,
      shrunkFromHeight: 2225,
    });
    const [header, row] = linesOf(reportCsv([shrunk]));
    const cell = (name: string) => row?.split(",")[header?.split(",").indexOf(name) ?? -1];
    expect([cell("width"), cell("height"), cell("shrunk_from_width"), cell("shrunk_from_height")]).toEqual([
      "1408",
      "1150",
      "2725",
      "2225",
    ]);
    expect(createReport().row(shrunk)).toMatchObject({ shrunkFromWidth: 2725, shrunkFromHeight: 2225 });
    // Not shrunk: empty, as for every other item.
    expect(createReport().row(done("000001", "a.jpg", "outputs/t/j/000001.webp", 1000, 250))).toMatchObject({
      shrunkFromWidth: null,
      shrunkFromHeight: null,
    });
  });
});

describe("rows and totals", () => {
  test("totals count every state and sum only what came out", () => {
    const report = createReport();
    report.row(done("000000", "a.jpg", "outputs/t/j/000000.webp", 1000, 250));
    report.row(create(ItemResultSchema, { itemId: "000001", state: ItemState.FAILED, inputBytes: 99n }));
    report.row(create(ItemResultSchema, { itemId: "000002", state: ItemState.RUNNING }));
    expect(report.totals()).toEqual({
      items: 3,
      done: 1,
      keptOriginal: 0,
      failed: 1,
      pending: 1,
      inputBytes: 1000,
      outputBytes: 250,
      bytesSaved: 750,
      savingPercent: 75,
    });
  });

  test("an item without an output has no name, sizes out, quality or output key", () => {
    const row = createReport().row(
      create(ItemResultSchema, {
        itemId: "000000",
        sourceKey: "a.jpg",
        state: ItemState.FAILED,
        outputKey: "outputs/t/j/000000.webp",
        outputBytes: 5n,
        quality: 80,
      }),
    );
    expect(row).toMatchObject({ name: "", outputBytes: null, quality: null, outputKey: null, cacheHit: null });
  });
});
