import { create } from "@bufbuild/protobuf";
import { ErrorCode, ImageFormat, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { applyResult, baseName, detailOf, newRow, outputName, phaseLabel } from "./row.js";

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
    expect(detailOf(row)).toBe("1920×1080 · WebP · q80 · SSIM 0.981");
  });

  test("a failure shows its stable code and message; a cancelled item says so", () => {
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
    expect(detailOf(row)).toBe("CORRUPT_INPUT: truncated");
    applyResult(row, create(ItemResultSchema, { state: ItemState.PENDING }));
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
});
