import { ChromaSubsampling, Fit, ImageFormat, MetadataPolicy, Priority, TaskKind } from "@imgc/proto";
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
      retentionDays: 0,
      tasks: [],
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
        "retention-days": "90",
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
      retentionDays: 90,
      tasks: [],
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
    expect(() => jobSettings({ "max-width": "0" })).toThrow(/between 1 and 65535 for --max-width but received 0/);
    expect(() => jobSettings({ quality: "80", lossless: true })).toThrow(
      "--quality and --lossless cannot be combined: a job has one target",
    );
  });

  test("every CompressionOptions field has a flag", () => {
    expect(
      jobSettings({
        format: "auto",
        "auto-formats": "AVIF, webp,avif",
        "max-bytes": "1.5MiB",
        "max-width": "800",
        "max-height": "600",
        fit: "cover",
        enlarge: true,
        metadata: "keep-copyright",
        effort: "9",
        progressive: true,
        "near-lossless": true,
        chroma: "444",
        palette: true,
        "flatten-animation": true,
        "allow-larger": true,
        "shrink-to-fit": true,
      }).options,
    ).toEqual({
      format: ImageFormat.AUTO,
      autoFormats: [ImageFormat.AVIF, ImageFormat.WEBP],
      target: { goal: { case: "maxBytes", value: 1_572_864n } },
      resize: { maxWidth: 800, maxHeight: 600, fit: Fit.COVER, allowEnlarge: true },
      metadata: MetadataPolicy.STRIP_KEEP_COPYRIGHT,
      effort: 9,
      progressive: true,
      nearLossless: true,
      chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444,
      palette: true,
      flattenAnimation: true,
      allowLarger: true,
      shrinkToFit: true,
    });
    expect(jobSettings({ "min-ssim": "0.97", metadata: "keep-all", chroma: "420" }).options).toEqual({
      format: ImageFormat.AUTO,
      target: { goal: { case: "minSsim", value: 0.97 } },
      metadata: MetadataPolicy.KEEP_ALL,
      chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_420,
    });
    for (const [given, bytes] of [
      ["250000", 250_000n],
      // Decimal, as imgc prints sizes: "50k" is the "50 KB" of the result's note.
      ["200k", 200_000n],
      ["200kB", 200_000n],
      ["200KiB", 204_800n],
      ["1.5M", 1_500_000n],
      ["2MB", 2_000_000n],
      ["1.5MiB", 1_572_864n],
    ] as const) {
      expect(jobSettings({ "max-bytes": given }).options.target, given).toEqual({
        goal: { case: "maxBytes", value: bytes },
      });
    }
  });

  test("the new flags are checked with the server's ranges, before anything is sent", () => {
    const cases: [Parameters<typeof jobSettings>[0], string | RegExp][] = [
      [{ "min-ssim": "0.4" }, "Expected number between 0.5 and 1 for --min-ssim but received 0.4"],
      [{ "min-ssim": "high" }, "Expected number between 0.5 and 1 for --min-ssim but received high"],
      [{ "max-bytes": "0" }, /^Expected a size between 1 and \d+ bytes .* for --max-bytes but received 0$/],
      [{ "max-bytes": "12 parsecs" }, /for --max-bytes but received 12 parsecs$/],
      [{ effort: "11" }, "Expected integer between 1 and 10 for --effort but received 11"],
      [{ "max-height": "70000" }, "Expected integer between 1 and 65535 for --max-height but received 70000"],
      [{ fit: "stretch" }, "Expected one of inside, cover, contain, fill, outside for --fit but received stretch"],
      [{ metadata: "keep" }, "Expected one of strip, keep-copyright, keep-all for --metadata but received keep"],
      [{ chroma: "422" }, "Expected one of 420, 444 for --chroma but received 422"],
      [
        { "auto-formats": "webp,gif" },
        "Expected a comma-separated list of jpeg, webp, avif, png for --auto-formats but received webp,gif",
      ],
      [{ format: "webp", "auto-formats": "webp" }, "--auto-formats needs --format auto, not webp"],
      [{ fit: "cover" }, "--fit needs --max-width or --max-height"],
      [{ enlarge: true }, "--enlarge needs --max-width or --max-height"],
      [{ "shrink-to-fit": true, quality: "80" }, "--shrink-to-fit needs --max-bytes"],
      [{ "min-ssim": "0.9", "max-bytes": "1M" }, "--min-ssim and --max-bytes cannot be combined: a job has one target"],
      [{ "near-lossless": true, lossless: true }, /^--near-lossless and --lossless cannot be combined/],
    ];
    for (const [flags, message] of cases) {
      expect(() => jobSettings(flags), JSON.stringify(flags)).toThrow(message);
    }
  });

  test("a huge or unprintable value is shown as a short escaped prefix", () => {
    expect(() => jobSettings({ quality: "9".repeat(10_000) })).toThrow(
      `Expected integer between 1 and 100 for --quality but received "${"9".repeat(40)}"… (10000 characters)`,
    );
    expect(() => jobSettings({ fit: "a\u001b[31m" })).toThrow(/but received "a\\u001b\[31m"$/);
  });
});

describe("detection flags", () => {
  test("--detect compresses and detects; --detect-only detects; the options land in detection", () => {
    expect(jobSettings({ detect: true })).toMatchObject({
      tasks: [TaskKind.COMPRESS, TaskKind.DETECT],
      detection: {},
    });
    expect(
      jobSettings({
        "detect-only": true,
        "detect-min-score": "0.3",
        "detect-max": "5",
        "detect-labels": "Person, cup,traffic light,cup",
      }),
    ).toMatchObject({
      tasks: [TaskKind.DETECT],
      detection: { minScore: 0.3, maxObjects: 5, labels: ["person", "cup", "traffic light"] },
    });
  });

  test("bad detection flags are usage errors naming the flag", () => {
    expect(() => jobSettings({ detect: true, "detect-min-score": "1" })).toThrow(
      new UsageError("Expected number between 0 and 0.99 for --detect-min-score but received 1"),
    );
    expect(() => jobSettings({ detect: true, "detect-max": "500" })).toThrow(
      new UsageError("Expected integer between 1 and 100 for --detect-max but received 500"),
    );
    expect(() => jobSettings({ detect: true, "detect-labels": "cup,unicorn" })).toThrow(
      new UsageError("Expected COCO labels such as person,cup,motorcycle for --detect-labels but received unicorn"),
    );
    expect(() => jobSettings({ "detect-labels": "cup" })).toThrow(
      new UsageError("--detect-labels needs --detect or --detect-only"),
    );
    expect(() => jobSettings({ detect: true, "detect-only": true })).toThrow(/cannot be combined/);
  });
});
