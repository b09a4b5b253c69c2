// The real model on the corpus. Thresholds stated per image: the default min_score (0.5) where the object fills
// the photo; 0.2 for bike-2725x2225.jpg, where only a person's arms and torso are in the frame (the model gives
// 0.24). Loading the model takes about 0.2 s and each image 0.2 to 0.7 s on the 2-core CI machine.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { COCO_LABELS, DetectionOptionsSchema, ErrorCode, ImageFormat } from "@imgc/proto";
import { beforeAll, describe, expect, it } from "vitest";
import { corpusFile, failure, limits } from "../pipeline/test-support.js";
import { createDetector, type DetectOutcome, type Detector, detectionPlan } from "./detector.js";
import { loadModel } from "./model.js";
import { iou, suppress } from "./nms.js";

let detector: Detector;
beforeAll(async () => {
  detector = createDetector(await loadModel());
});

const detect = (path: string, init: MessageInitShape<typeof DetectionOptionsSchema> = {}): Promise<DetectOutcome> =>
  detector.detect(corpusFile(path), create(DetectionOptionsSchema, init), limits);

const best = (outcome: DetectOutcome, label: string) => outcome.objects.find((o) => o.label === label);

describe("detector on the corpus", () => {
  it.each([
    ["photos/motorcycle_left.png", "motorcycle", 0.5],
    ["photos/astronaut.png", "person", 0.5],
    ["photos/coffee.png", "cup", 0.5],
    ["photos/bike-2725x2225.jpg", "person", 0.2],
  ])("finds in %s a %s scored at least %s", async (path, label, minScore) => {
    const outcome = await detect(path, { minScore });
    const found = best(outcome, label);
    expect(found?.score).toBeGreaterThanOrEqual(minScore);
    expect(outcome.objects.every((o) => o.score >= minScore)).toBe(true);
    expect(outcome.model).toBe("centernet-mobilenetv3-coco");
    expect(outcome.frames).toBe(1);
  });

  it("boxes the motorcycle in source pixels: most of the 741×500 photo, inside its bounds", async () => {
    const outcome = await detect("photos/motorcycle_left.png");
    expect([outcome.sourceWidth, outcome.sourceHeight]).toEqual([741, 500]);
    const box = best(outcome, "motorcycle")?.sourceBox;
    if (!box) throw new Error("no motorcycle");
    expect(box.width * box.height).toBeGreaterThan(0.4 * 741 * 500);
    expect(box.x + box.width).toBeLessThanOrEqual(741);
    expect(box.y + box.height).toBeLessThanOrEqual(500);
    // One box per object: the model's near-duplicate proposals are suppressed.
    expect(outcome.objects.filter((o) => o.label === "motorcycle")).toHaveLength(1);
  });

  it("finds nothing in an image with no COCO object, even at 0.15", async () => {
    const outcome = await detect("edge/gradients.png", { minScore: 0.15 });
    expect(outcome.objects).toEqual([]);
    expect([outcome.sourceWidth, outcome.sourceHeight]).toEqual([1000, 1000]);
  });

  it("applies EXIF orientation: the same person is found at the same place in all four orientations", async () => {
    const boxes = [];
    for (const orientation of [1, 3, 6, 8]) {
      const outcome = await detect(`edge/exif-orientation-${orientation}.jpg`, { minScore: 0.2, labels: ["person"] });
      expect([outcome.sourceWidth, outcome.sourceHeight]).toEqual([600, 450]);
      const box = outcome.objects[0]?.sourceBox;
      if (!box) throw new Error(`no person in orientation ${orientation}`);
      boxes.push(box);
    }
    const [first, ...rest] = boxes;
    for (const box of rest) expect(iou(first ?? box, box)).toBeGreaterThan(0.6);
  });

  it("looks at the first frame of an animation and says how many there are", async () => {
    for (const path of ["edge/animated-10-frames.gif", "edge/animated-10-frames.webp"]) {
      const outcome = await detect(path, { minScore: 0.15 });
      expect(outcome.frames).toBe(10);
      expect([outcome.sourceWidth, outcome.sourceHeight]).toEqual([370, 285]);
    }
  });

  it("keeps only the labels asked for, and at most max_objects", async () => {
    const cups = await detect("photos/coffee.png", { minScore: 0.15, labels: ["cup"] });
    expect(cups.objects.length).toBeGreaterThan(0);
    expect(cups.objects.every((o) => o.label === "cup")).toBe(true);
    const all = await detect("photos/motorcycle_left.png", { minScore: 0.15 });
    expect(all.objects.length).toBeGreaterThan(2);
    const two = await detect("photos/motorcycle_left.png", { minScore: 0.15, maxObjects: 2 });
    expect(two.objects).toEqual(all.objects.slice(0, 2));
    const scores = all.objects.map((o) => o.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it.each([
    ["bad/corrupt-header.jpg", ErrorCode.CORRUPT_INPUT],
    ["bad/truncated.png", ErrorCode.CORRUPT_INPUT],
    ["bad/font-not-an-image.ttf", ErrorCode.UNSUPPORTED_FORMAT],
  ])("fails %s with the pipeline's code", async (path, code) => {
    expect((await failure(detect(path))).code).toBe(code);
  });

  it("refuses an image over the pixel limit from its header, before decoding it", async () => {
    const small = { ...limits, maxPixels: 100_000 };
    const err = await failure(
      detector.detect(corpusFile("photos/bike-2725x2225.jpg"), create(DetectionOptionsSchema), small),
    );
    expect(err.code).toBe(ErrorCode.PIXEL_LIMIT);
    expect(err.message).toMatch(/2725×2225/);
  });

  it("refuses empty and random bytes as unsupported", async () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from("not an image at all, just text")]) {
      const err = await failure(detector.detect(bytes, create(DetectionOptionsSchema), limits));
      expect([ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.CORRUPT_INPUT]).toContain(err.code);
    }
  });

  it("reports the input format", async () => {
    expect((await detect("photos/bike-2725x2225.jpg", { labels: ["cup"] })).inputFormat).toBe(ImageFormat.JPEG);
  });
});

describe("detection options and suppression", () => {
  it("applies the documented defaults and caps", () => {
    const plan = detectionPlan(create(DetectionOptionsSchema));
    expect(plan).toEqual({ minScore: 0.5, maxObjects: 20, labels: undefined });
    const capped = detectionPlan(create(DetectionOptionsSchema, { minScore: 0.3, maxObjects: 1000, labels: ["cup"] }));
    expect(capped.minScore).toBe(0.3);
    expect(capped.maxObjects).toBe(100);
    expect([...(capped.labels ?? [])]).toEqual(["cup"]);
  });

  it("keeps the best of overlapping boxes of one label, and overlapping boxes of different labels", () => {
    const box = (x: number) => ({ x, y: 0, width: 100, height: 100 });
    const found = [
      { label: "cup", score: 0.4, sourceBox: box(5) },
      { label: "cup", score: 0.9, sourceBox: box(0) },
      { label: "dining table", score: 0.5, sourceBox: box(0) },
      { label: "cup", score: 0.3, sourceBox: box(300) },
    ];
    expect(suppress(found, 0.5).map((o) => [o.label, o.score])).toEqual([
      ["cup", 0.9],
      ["dining table", 0.5],
      ["cup", 0.3],
    ]);
  });

  it("has the 80 COCO labels the model's class index counts in", () => {
    expect(COCO_LABELS).toHaveLength(80);
    expect(new Set(COCO_LABELS).size).toBe(80);
  });
});
