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
  reportCsv as wholeCsv,
} from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { reportCsv, reportJson } from "./report.js";

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

describe("CSV", () => {
  // The rows, escaping and TOTAL row are @imgc/proto's (proto/src/report.test.ts); this is their streaming.
  test("report.csv streamed page by page is @imgc/proto's report of the same results", async () => {
    const results = [
      done("000000", "uploads/t/a/a.jpg", "outputs/t/j/000000.webp", 1000, 250),
      done("000001", "uploads/t/b/a.png", "outputs/t/j/000001.webp", 3000, 1000),
      create(ItemResultSchema, {
        itemId: "000002",
        sourceKey: "=bad, file.jpg",
        state: ItemState.FAILED,
        errorCode: ErrorCode.CORRUPT_INPUT,
        errorMessage: 'not a "JPEG"',
      }),
    ];
    const csv = await text(reportCsv(items(...results)));
    expect(csv).toBe(wholeCsv(results));
    expect(csv.split("\r\n")).toHaveLength(results.length + 3);
    expect(csv).toContain(`"'=bad, file.jpg"`);
    expect(csv.split("\r\n").at(-2)).toMatch(/^TOTAL,3 items,/);
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
          width: null,
          height: null,
          quality: 80,
          ssim: 0.9877,
          durationMs: null,
          workerId: "worker-1",
          cacheHit: false,
          errorCode: null,
          errorMessage: null,
          keptReason: null,
          outputKey: "outputs/t/j/000000.webp",
          downloadUrl: null,
          shrunkFromWidth: null,
          shrunkFromHeight: null,
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
      "000000,uploads/t/a/a.jpg,a.webp,DONE,1000,250,750,75,WEBP,,,80,0.9877,,worker-1,false,,,,outputs/t/j/000000.webp,,,,person;cup",
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
