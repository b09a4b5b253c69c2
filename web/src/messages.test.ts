import { create } from "@bufbuild/protobuf";
import { ErrorCode, ImageFormat, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { explainFailure, explainKept } from "./messages.js";

const failed = (errorCode: ErrorCode, errorMessage: string, inputFormat = ImageFormat.UNSPECIFIED) =>
  create(ItemResultSchema, { state: ItemState.FAILED, errorCode, errorMessage, inputFormat });

describe("messages for people", () => {
  test("damaged files name their format from the engine's words and say what to do", () => {
    const jpeg = explainFailure(failed(ErrorCode.CORRUPT_INPUT, "VipsJpeg: premature end of JPEG image"));
    expect(jpeg.text).toBe("This JPEG is damaged; export it again.");
    expect(jpeg.technical).toBe("CORRUPT_INPUT: VipsJpeg: premature end of JPEG image");
    expect(explainFailure(failed(ErrorCode.CORRUPT_INPUT, "vipspng: libpng read error")).text).toBe(
      "This PNG is damaged; export it again.",
    );
    expect(explainFailure(failed(ErrorCode.CORRUPT_INPUT, "bad", ImageFormat.WEBP)).text).toBe(
      "This WebP is damaged; export it again.",
    );
  });

  test("a size goal that cannot be met says so in KB, with the way out", () => {
    const e = explainFailure(
      failed(ErrorCode.INVALID_OPTIONS, "The smallest WebP output is 50524 bytes, over the limit of 50000 bytes"),
    );
    expect(e.text).toBe(
      "Even the smallest WebP (50.5 KB) is over the 50 KB limit: raise the limit, or set smaller dimensions.",
    );
    expect(e.technical).toContain("INVALID_OPTIONS: The smallest WebP output is 50524 bytes");
  });

  test("a kept original is explained in KB", () => {
    const kept = create(ItemResultSchema, {
      state: ItemState.KEPT_ORIGINAL,
      keptReason: "The WebP output (370000 bytes) was not smaller than the original (197000 bytes)",
    });
    expect(explainKept(kept).text).toBe(
      "Original kept: already as small as it gets (197 KB; the best WebP was 173 KB larger).",
    );
  });
});
