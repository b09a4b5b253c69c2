import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ErrorCode, ImageFormat, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import {
  applyResult,
  baseName,
  detailOf,
  hasOutput,
  labelsOf,
  newRow,
  outputName,
  phaseLabel,
  technicalDetailOf,
} from "./row.js";

describe("row", () => {
  test("a DONE result fills the row and names the download after the original", () => {
    const row = newRow({
      name: "Holiday Photo.JPG",
      size: 1000,
      phase: "queued",
      key: "uploads/t/u/Holiday_Photo.JPG",
    });
    applyResult(
      row,
      create(ItemResultSchema, {
        itemId: "000003",
        sourceKey: "uploads/t/u/Holiday_Photo.JPG",
        state: ItemState.DONE,
        format: ImageFormat.WEBP,
        inputBytes: 1234n,
        outputBytes: 300n,
        width: 1920,
        height: 1080,
        quality: 80,
        ssim: 0.9812,
        workerId: "w-1",
      }),
    );
    expect(row.phase).toBe("done");
    expect(row.size).toBe(1234);
    expect(outputName(row)).toBe("Holiday Photo.webp");
    expect(detailOf(row)).toBe("1920×1080 · WebP · q80 · SSIM 0.981 · w-1");
  });

  test("an item shrunk to fit a byte budget says it was resized; the note stays in the tooltip", () => {
    const row = newRow({ name: "bike.jpg", size: 1000, phase: "queued" });
    const note = "Resized from 2725×2225 to 1408×1150 to fit 50 KB";
    applyResult(
      row,
      create(ItemResultSchema, {
        state: ItemState.DONE,
        format: ImageFormat.WEBP,
        width: 1408,
        height: 1150,
        quality: 30,
        ssim: 0.9014,
        workerId: "w-1",
        shrunkToFit: true,
        shrunkFromWidth: 2725,
        shrunkFromHeight: 2225,
        note,
      }),
    );
    expect(detailOf(row)).toBe("Resized to 1408×1150 to fit · WebP · q30 · SSIM 0.901 · w-1");
    expect(technicalDetailOf(row)).toBe(`Resized to 1408×1150 to fit · WebP · q30 · SSIM 0.901 · w-1 — ${note}`);
  });

  test("a failure says what to do, its stable code and message stay in the tooltip; a cancelled item says so", () => {
    const row = newRow({ name: "bad.png", size: 10, phase: "queued" });
    applyResult(
      row,
      create(ItemResultSchema, {
        state: ItemState.FAILED,
        errorCode: ErrorCode.CORRUPT_INPUT,
        errorMessage: "truncated",
      }),
    );
    expect(phaseLabel(row)).toBe("Failed");
    expect(detailOf(row)).toBe("This image is damaged; export it again.");
    expect(technicalDetailOf(row)).toBe("CORRUPT_INPUT: truncated");
    applyResult(row, create(ItemResultSchema, { state: ItemState.PENDING }));
    expect(row.phase).toBe("failed");
    // No state that is not final takes a finished row back, an unknown one included.
    applyResult(row, create(ItemResultSchema, { state: ItemState.UNSPECIFIED }));
    expect(row.phase).toBe("failed");
    const cancelled = newRow({ name: "c.png", size: 10, phase: "queued" });
    applyResult(cancelled, create(ItemResultSchema, { state: ItemState.FAILED, errorCode: ErrorCode.CANCELLED }));
    expect(phaseLabel(cancelled)).toBe("Cancelled");
  });

  test("upload progress and key names", () => {
    const row = newRow({ name: "a.jpg", size: 200, phase: "uploading" });
    row.loaded = 50;
    expect(phaseLabel(row)).toBe("Uploading 25%");
    expect(baseName("uploads/default/abc/cat.png")).toBe("cat.png");
  });

  const started = Date.UTC(2026, 0, 1, 12, 0, 0);
  /** A queued row that a RUNNING event (of detection, given `detection`) moved on. */
  function startedRow(workerId: string, detection?: { workerId: string }) {
    const row = newRow({ name: "a.jpg", size: 200, phase: "queued" });
    applyResult(
      row,
      create(ItemResultSchema, {
        state: ItemState.RUNNING,
        workerId,
        startedAt: timestampFromMs(started),
        ...(detection ? { detection } : {}),
      }),
    );
    return row;
  }

  test("a RUNNING event shows the worker and how long it has been at it; GetResults' PENDING does not undo it", () => {
    const row = startedRow("worker-2");
    expect(row.phase).toBe("running");
    expect(phaseLabel(row)).toBe("Compressing");
    expect(detailOf(row, started + 3_000)).toBe("On worker-2 · 0:03");
    applyResult(row, create(ItemResultSchema, { state: ItemState.PENDING }));
    expect(row.phase).toBe("running");
    applyResult(row, create(ItemResultSchema, { state: ItemState.DONE, outputBytes: 100n, inputBytes: 200n }));
    expect(row.phase).toBe("done");
    applyResult(row, create(ItemResultSchema, { state: ItemState.RUNNING, workerId: "worker-1" }));
    expect(row.phase).toBe("done");
  });

  test("a RUNNING event of detection reads as detecting, on its worker", () => {
    const row = startedRow("detector-1", { workerId: "detector-1" });
    expect(phaseLabel(row)).toBe("Detecting objects");
    expect(detailOf(row, started + 2_000)).toBe("On detector-1 · 0:02");
    expect(labelsOf(row)).toEqual([]);
    // The other task of the same item begins: the row says so.
    applyResult(row, create(ItemResultSchema, { state: ItemState.RUNNING, workerId: "worker-1" }));
    expect(phaseLabel(row)).toBe("Compressing");
  });
});

describe("labels", () => {
  test("a row lists each label detection found once, the most confident first", () => {
    const row = newRow({ name: "cafe.jpg", size: 10, phase: "queued" });
    expect(labelsOf(row)).toEqual([]);
    applyResult(
      row,
      create(ItemResultSchema, {
        state: ItemState.DONE,
        detection: {
          objects: [
            { label: "cup", score: 0.9 },
            { label: "person", score: 0.8 },
            { label: "cup", score: 0.7 },
          ],
        },
      }),
    );
    expect(labelsOf(row)).toEqual(["cup", "person"]);
  });
});

describe("detection only", () => {
  test("an item done without an output (the job only detected) has nothing to compare or download", () => {
    const detected = newRow({ name: "cam.jpg", size: 10, phase: "queued" });
    applyResult(
      detected,
      create(ItemResultSchema, { state: ItemState.DONE, detection: { objects: [{ label: "car", score: 0.8 }] } }),
    );
    expect(detected.phase).toBe("done");
    expect(hasOutput(detected)).toBe(false);
    const both = newRow({ name: "cam2.jpg", size: 10, phase: "queued" });
    applyResult(
      both,
      create(ItemResultSchema, {
        state: ItemState.DONE,
        outputKey: "outputs/t/j/000001.webp",
        detection: { objects: [{ label: "car", score: 0.8 }] },
      }),
    );
    expect(hasOutput(both)).toBe(true);
  });
});
