import { create } from "@bufbuild/protobuf";
import {
  ErrorCode,
  ImageFormat,
  ItemDetectionSchema,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  JobSchema,
  JobState,
} from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createOutputNamer, csvCell, reportCsv, reportJson } from "./report.js";

async function* items(...results: ItemResult[]): AsyncGenerator<ItemResult> {
  yield* results;
}

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let out = "";
  for await (const chunk of chunks) out += chunk;
  return out;
}

const done = (id: string, source: string, output: string, input: number, outputBytes: number) =>
  create(ItemResultSchema, {
    itemId: id,
    sourceKey: source,
    state: ItemState.DONE,
    outputKey: output,
    format: ImageFormat.WEBP,
    inputBytes: BigInt(input),
    outputBytes: BigInt(outputBytes),
    quality: 80,
    ssim: 0.98765,
    workerId: "worker-1",
  });

describe("output names", () => {
  test("the source's base name with the output's extension, de-duplicated case-insensitively", () => {
    const name = createOutputNamer(["report.csv"]);
    expect(name("uploads/t/a1/a.jpg", "outputs/t/j/000000.webp")).toBe("a.webp");
    expect(name("uploads/t/a2/A.png", "outputs/t/j/000001.webp")).toBe("A (2).webp");
    expect(name("uploads/t/a3/a.jpeg", "outputs/t/j/000002.webp")).toBe("a (3).webp");
    expect(name("uploads/t/a4/a.jpg", "outputs/t/j/000003.jpg")).toBe("a.jpg");
    expect(name("incoming/report.png", "outputs/t/j/000004.csv")).toBe("report (2).csv");
    expect(name("weird/na:me\u0001.gif", "outputs/t/j/000005.png")).toBe("na_me_.png");
    expect(name("prefix/", "outputs/t/j/000006.png")).toBe("image.png");
  });
});

describe("CSV", () => {
  test("cells are quoted per RFC 4180 and formulas are defused", () => {
    expect(csvCell('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell(-12)).toBe("-12");
    expect(csvCell(null)).toBe("");
  });

  test("a header row, one row per item, and a TOTAL row over the items that came out", async () => {
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
    const csv = await text(
      reportCsv(
        items(
          done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250),
          done("000001", "uploads/t/b/a.png", "outputs/t/j/000001.webp", 3000, 1000),
          failed,
          pending,
        ),
      ),
    );
    expect(csv.split("\r\n")).toEqual([
      "item_id,source_key,name,state,input_bytes,output_bytes,bytes_saved,saving_percent,format,quality,ssim,worker_id,error_code,error_message,labels",
      "000000,uploads/t/a/a.jpg,a.webp,DONE,1000,250,750,75,WEBP,80,0.9877,worker-1,,,",
      "000001,uploads/t/b/a.png,a (2).webp,DONE,3000,1000,2000,66.7,WEBP,80,0.9877,worker-1,,,",
      '000002,"uploads/t/x/bad, file.jpg",,FAILED,10,,,,,,,worker-2,CORRUPT_INPUT,"not a ""JPEG""",',
      "000003,uploads/t/y/p.png,,PENDING,0,,,,,,,,,,",
      'TOTAL,4 items,,"2 done, 0 kept, 1 failed, 1 pending",4000,1250,2750,68.8,,,,,,,',
      "",
    ]);
  });
});

describe("JSON", () => {
  test("the job, one object per item with numbers for sizes, and totals", async () => {
    const job = create(JobSchema, { id: "job-1", state: JobState.RUNNING, label: "batch" });
    const parsed = JSON.parse(
      await text(reportJson(job, items(done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250)))),
    );
    expect(parsed).toEqual({
      job: { id: "job-1", state: "RUNNING", label: "batch", createdAt: null, finishedAt: null },
      items: [
        {
          itemId: "000000",
          sourceKey: "uploads/t/a/a.jpg",
          name: "a.webp",
          state: "DONE",
          inputBytes: 1000,
          outputBytes: 250,
          bytesSaved: 750,
          savingPercent: 75,
          format: "WEBP",
          quality: 80,
          ssim: 0.9877,
          workerId: "worker-1",
          errorCode: null,
          errorMessage: null,
          labels: null,
          detections: null,
        },
      ],
      totals: {
        items: 1,
        done: 1,
        keptOriginal: 0,
        failed: 0,
        pending: 0,
        inputBytes: 1000,
        outputBytes: 250,
        bytesSaved: 750,
        savingPercent: 75,
      },
    });
  });
});

describe("detections", () => {
  const detected = () => {
    const result = done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250);
    result.detection = create(ItemDetectionSchema, {
      objects: [
        {
          label: "person",
          score: 0.91234,
          sourceBox: { x: 10, y: 20, width: 30, height: 40 },
          box: { x: 5, y: 10, width: 15, height: 20 },
        },
        { label: "cup", score: 0.8, sourceBox: { x: 1, y: 2, width: 3, height: 4 } },
        { label: "person", score: 0.7, sourceBox: { x: 50, y: 60, width: 10, height: 10 } },
      ],
      sourceWidth: 100,
      sourceHeight: 200,
    });
    return result;
  };

  test("the CSV's labels column lists each label found once, separated by ';'", async () => {
    const csv = await text(reportCsv(items(detected())));
    expect(csv.split("\r\n")[1]).toBe(
      "000000,uploads/t/a/a.jpg,a.webp,DONE,1000,250,750,75,WEBP,80,0.9877,worker-1,,,person;cup",
    );
  });

  test("the JSON carries the labels and every object with its source and output boxes", async () => {
    const parsed = JSON.parse(await text(reportJson(undefined, items(detected()))));
    expect(parsed.items[0].labels).toEqual(["person", "cup"]);
    expect(parsed.items[0].detections).toEqual([
      {
        label: "person",
        score: 0.912,
        sourceBox: { x: 10, y: 20, width: 30, height: 40 },
        box: { x: 5, y: 10, width: 15, height: 20 },
      },
      { label: "cup", score: 0.8, sourceBox: { x: 1, y: 2, width: 3, height: 4 }, box: null },
      { label: "person", score: 0.7, sourceBox: { x: 50, y: 60, width: 10, height: 10 }, box: null },
    ]);
  });
});
