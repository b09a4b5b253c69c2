import { create } from "@bufbuild/protobuf";
import { ErrorCode, ImageFormat, ItemResultSchema, ItemState, JobSchema, JobState, TaskKind } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { errorCode, jobDetails, jobLine, jobState, resultRow, resultsTable, table } from "./format.js";

describe("output formatting", () => {
  test("enum names lose their prefix; error codes keep their stable upper case", () => {
    expect(jobState(JobState.COMPLETED_WITH_ERRORS)).toBe("completed_with_errors");
    expect(errorCode(ErrorCode.CORRUPT_INPUT)).toBe("CORRUPT_INPUT");
  });

  test("table pads every column but the last", () => {
    expect(
      table(
        ["a", "bb", "c"],
        [
          ["long value", "x", ""],
          ["y", "zzz", "end"],
        ],
      ),
    ).toBe(["a           bb   c", "long value  x", "y           zzz  end"].join("\n"));
  });

  test("a done item shows size before → after, saving, format and worker; a failed one its code and message", () => {
    const done = create(ItemResultSchema, {
      state: ItemState.DONE,
      inputBytes: 112_525n,
      outputBytes: 25_942n,
      format: ImageFormat.WEBP,
      workerId: "worker-2",
    });
    expect(resultRow("rocket.jpg", done)).toEqual([
      "rocket.jpg",
      "done",
      "113 KB → 25.9 KB",
      "−76.9%",
      "webp",
      "worker-2",
      "",
    ]);
    const shrunk = create(ItemResultSchema, {
      ...done,
      width: 1408,
      height: 1150,
      shrunkToFit: true,
      shrunkFromWidth: 2725,
      shrunkFromHeight: 2225,
      note: "Resized from 2725×2225 to 1408×1150 to fit 50 KB",
    });
    expect(resultRow("bike.jpg", shrunk)[6]).toBe("Resized from 2725×2225 to 1408×1150 to fit 50 KB");
    const failed = create(ItemResultSchema, {
      state: ItemState.FAILED,
      inputBytes: 1024n,
      errorCode: ErrorCode.CORRUPT_INPUT,
      errorMessage: "The JPEG file is damaged",
      workerId: "worker-1",
    });
    expect(resultRow("bad.jpg", failed)).toEqual([
      "bad.jpg",
      "failed",
      "1.02 KB",
      "",
      "",
      "worker-1",
      "CORRUPT_INPUT: The JPEG file is damaged",
    ]);
  });

  test("a job in one line and in detail", () => {
    const job = create(JobSchema, {
      id: "job-1",
      state: JobState.RUNNING,
      counts: { total: 12, done: 6, keptOriginal: 0, failed: 1, running: 2, pending: 3 },
      bytesIn: 4096n,
      bytesOut: 1024n,
      createdAt: { seconds: 1_800_000_000n },
    });
    expect(jobLine(job)).toBe(
      "job job-1 running · 7/12 ended: 6 done, 0 kept, 1 failed · 2 running · 4.1 KB → 1.02 KB (−75%)",
    );
    expect(jobDetails(job).split("\n")).toEqual([
      "job       job-1",
      "state     running",
      "items     7/12 ended: 6 done, 0 kept, 1 failed · 2 running",
      "bytes     4.1 KB → 1.02 KB (−75%)",
      "priority  unspecified",
      "created   2027-01-15T08:00:00Z",
    ]);
  });

  test("a job that detects shows its tasks, and the notice of a job that waits for a kind of worker", () => {
    const job = create(JobSchema, {
      id: "job-2",
      state: JobState.QUEUED,
      tasks: [TaskKind.COMPRESS, TaskKind.DETECT],
      notice: "Waiting for a worker that can detect objects: none is live",
    });
    const lines = jobDetails(job).split("\n");
    expect(lines).toContain("tasks     compress, detect");
    expect(lines).toContain("notice    Waiting for a worker that can detect objects: none is live");
    expect(jobDetails(create(JobSchema, { id: "job-3", tasks: [TaskKind.COMPRESS] }))).not.toContain("tasks");
  });
});

describe("detection in results", () => {
  test("a detection-only item shows its input size and the detecting worker, no saving", () => {
    const detected = create(ItemResultSchema, {
      state: ItemState.DONE,
      inputBytes: 2048n,
      detection: { workerId: "detector-1", objects: [{ label: "cup" }] },
    });
    expect(resultRow("coffee.png", detected)).toEqual(["coffee.png", "done", "2.05 KB", "", "", "detector-1", ""]);
  });

  test("a results table gets a labels column only when an item has a detection", () => {
    const plain = create(ItemResultSchema, { state: ItemState.DONE });
    const detected = create(ItemResultSchema, {
      state: ItemState.DONE,
      detection: { objects: [{ label: "person" }, { label: "cup" }, { label: "person" }] },
    });
    expect(resultsTable(["file"], [["a.jpg"]], [plain])).toBe(table(["file"], [["a.jpg"]]));
    expect(resultsTable(["file"], [["a.jpg"], ["b.jpg"]], [plain, detected]).split("\n")).toEqual([
      "file   labels",
      "a.jpg",
      "b.jpg  person, cup",
    ]);
  });
});
