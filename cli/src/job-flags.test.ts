import { ImageFormat, Priority } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { UsageError } from "./args.js";
import { jobSettings } from "./job-flags.js";

describe("job flags", () => {
  test("no flags: AUTO format, normal priority, no target or resize", () => {
    expect(jobSettings({})).toEqual({
      options: { format: ImageFormat.AUTO },
      priority: Priority.NORMAL,
      label: "",
      idempotencyKey: "",
      webhookUrl: "",
    });
  });

  test("every flag lands in the request", () => {
    expect(
      jobSettings({
        format: "webp",
        quality: "75",
        "max-width": "1600",
        priority: "high",
        label: "spring",
        "idempotency-key": "batch-42",
        webhook: "https://hooks.example/imgc",
      }),
    ).toEqual({
      options: {
        format: ImageFormat.WEBP,
        target: { goal: { case: "quality", value: 75 } },
        resize: { maxWidth: 1600, maxHeight: 0 },
      },
      priority: Priority.HIGH,
      label: "spring",
      idempotencyKey: "batch-42",
      webhookUrl: "https://hooks.example/imgc",
    });
    expect(jobSettings({ format: "keep", lossless: true, "max-height": "300", priority: "low" })).toMatchObject({
      options: {
        format: ImageFormat.KEEP,
        target: { goal: { case: "lossless", value: true } },
        resize: { maxWidth: 0, maxHeight: 300 },
      },
      priority: Priority.LOW,
    });
  });

  test("bad values are usage errors naming the flag", () => {
    expect(() => jobSettings({ quality: "120" })).toThrow(
      new UsageError("Expected integer between 1 and 100 for --quality but received 120"),
    );
    expect(() => jobSettings({ format: "bmp" })).toThrow(
      new UsageError("Expected one of auto, keep, jpeg, webp, avif, png for --format but received bmp"),
    );
    expect(() => jobSettings({ priority: "urgent" })).toThrow(/for --priority but received urgent/);
    expect(() => jobSettings({ "max-width": "0" })).toThrow(/between 1 and 100000 for --max-width but received 0/);
    expect(() => jobSettings({ quality: "80", lossless: true })).toThrow("--quality and --lossless cannot be combined");
  });
});
