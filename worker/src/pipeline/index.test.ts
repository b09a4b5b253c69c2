import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { type CompressionOptions, CompressionOptionsSchema, ErrorCode, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ItemError } from "../item-error.js";
import { compress, type Limits } from "./index.js";

const corpus = new URL("../../../../shared/corpus/", import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, corpus));
const limits: Limits = { maxInputBytes: 50_000_000, maxPixels: 50_000_000, maxFrames: 500, timeoutMs: 30_000 };
const options = (init: Parameters<typeof create<typeof CompressionOptionsSchema>>[1] = {}): CompressionOptions =>
  create(CompressionOptionsSchema, init);

const failure = async (promise: Promise<unknown>): Promise<ItemError> => {
  const e = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!ItemError.is(e)) throw new Error(`expected an ItemError, got ${String(e)}`);
  return e;
};

describe("compress", () => {
  it("encodes each output format at a quality and says what it made", async () => {
    const input = read("photos/rocket.jpg");
    for (const [format, sharpName, extension] of [
      [ImageFormat.JPEG, "jpeg", "jpg"],
      [ImageFormat.WEBP, "webp", "webp"],
      [ImageFormat.AVIF, "heif", "avif"],
    ] as const) {
      const out = await compress(input, options({ format, target: { goal: { case: "quality", value: 60 } } }), limits);
      expect(out.kind).toBe("compressed");
      expect(out.format).toBe(format);
      expect(out.extension).toBe(extension);
      expect(out.quality).toBe(60);
      expect((await sharp(out.data).metadata()).format).toBe(sharpName);
      expect(out.data.length).toBeLessThan(input.length);
    }
  });

  it("AUTO returns the smallest of its formats", async () => {
    const input = read("photos/rocket.jpg");
    const auto = await compress(input, options({ target: { goal: { case: "quality", value: 80 } } }), limits);
    const jpeg = await compress(input, options({ format: ImageFormat.JPEG }), limits);
    const webp = await compress(input, options({ format: ImageFormat.WEBP }), limits);
    expect(auto.data.length).toBe(Math.min(jpeg.data.length, webp.data.length));
  });

  it("keeps the original when the output is not smaller in the same format", async () => {
    const input = read("edge/full-transparent.png");
    const out = await compress(input, options({ format: ImageFormat.PNG }), limits);
    expect(out.kind).toBe("kept-original");
    expect(out.data).toBe(input);
    expect(out.keptReason).toMatch(/not smaller/);
  });

  it("applies the EXIF orientation", async () => {
    const out = await compress(read("edge/exif-orientation-6.jpg"), options({ format: ImageFormat.JPEG }), limits);
    expect([out.width, out.height]).toEqual([600, 450]);
    const meta = await sharp(out.data).metadata();
    expect([meta.width, meta.height, meta.orientation ?? 1]).toEqual([600, 450, 1]);
  });

  it("fails bad inputs with stable codes", async () => {
    expect((await failure(compress(read("bad/font-not-an-image.ttf"), options(), limits))).code).toBe(
      ErrorCode.UNSUPPORTED_FORMAT,
    );
    expect((await failure(compress(read("bad/truncated.png"), options(), limits))).code).toBe(ErrorCode.CORRUPT_INPUT);
    expect((await failure(compress(read("bad/corrupt-header.jpg"), options(), limits))).code).toBe(
      ErrorCode.CORRUPT_INPUT,
    );
    const photo = read("photos/rocket.jpg");
    const tooLarge = await failure(compress(photo, options(), { ...limits, maxInputBytes: 1000 }));
    expect(tooLarge.code).toBe(ErrorCode.FILE_TOO_LARGE);
    expect(tooLarge.message).toBe(`The file is ${photo.length} bytes (113 KB), over the limit of 1000 bytes (1 KB)`);
    expect((await failure(compress(photo, options(), { ...limits, maxPixels: 1000 }))).code).toBe(
      ErrorCode.PIXEL_LIMIT,
    );
    expect(
      (await failure(compress(read("edge/animated-10-frames.gif"), options(), { ...limits, maxFrames: 5 }))).code,
    ).toBe(ErrorCode.FRAME_LIMIT);
    expect((await failure(compress(photo, options(), { ...limits, timeoutMs: 1 }))).code).toBe(ErrorCode.TIMEOUT);
  });
});
