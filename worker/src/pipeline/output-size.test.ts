import { ErrorCode, Fit, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { compress } from "./index.js";
import { outputSize } from "./output-size.js";
import type { ResizePlan } from "./plan.js";
import { failure, limits, options } from "./test-support.js";

const fits: ResizePlan["fit"][] = ["inside", "outside", "cover", "contain", "fill"];
const boxes: [number, number][] = [
  [300, 300],
  [60, 300],
  [300, 0],
  [0, 20],
  [80, 40],
  [0, 170],
  [7, 0],
];

describe("outputSize", () => {
  it("predicts the size sharp makes, for every fit, box and enlargement setting", async () => {
    const input = await sharp({ create: { width: 100, height: 50, channels: 3, background: "#f00" } })
      .png()
      .toBuffer();
    for (const fit of fits) {
      for (const allowEnlarge of [true, false]) {
        for (const [maxWidth, maxHeight] of boxes) {
          const { info } = await sharp(input)
            .resize({
              ...(maxWidth ? { width: maxWidth } : {}),
              ...(maxHeight ? { height: maxHeight } : {}),
              fit,
              withoutEnlargement: !allowEnlarge,
            })
            .raw()
            .toBuffer({ resolveWithObject: true });
          const predicted = outputSize(100, 50, { fit, allowEnlarge, maxWidth, maxHeight });
          const at = `${fit} ${allowEnlarge ? "enlarge" : "no enlarge"} ${maxWidth}×${maxHeight}`;
          // Never below what sharp makes (the bound must hold), at most a rounding pixel above.
          expect([at, predicted.width >= info.width, predicted.height >= info.height]).toEqual([at, true, true]);
          expect([at, predicted.width - info.width <= 1, predicted.height - info.height <= 1]).toEqual([
            at,
            true,
            true,
          ]);
        }
      }
    }
  });
});

const solid = (size: number): Promise<Buffer> =>
  sharp({ create: { width: size, height: size, channels: 3, background: "#f00" } })
    .png()
    .toBuffer();

describe("the output pixel limit", () => {
  it("fails a 1×1 PNG filled to 11500×11500 with PIXEL_LIMIT before any work", async () => {
    const tiny = await solid(1);
    const e = await failure(
      compress(
        tiny,
        options({
          format: ImageFormat.PNG,
          resize: { maxWidth: 11500, maxHeight: 11500, fit: Fit.FILL, allowEnlarge: true },
        }),
        { ...limits, maxPixels: 100_000_000 },
      ),
    );
    expect(e.code).toBe(ErrorCode.PIXEL_LIMIT);
    expect(e.message).toBe("The output would be 11500×11500 (132.3 megapixels), over the limit of 100.0 megapixels");
  });

  it("fails contain into a huge box even without enlargement, since contain pads to the box", async () => {
    const tiny = await solid(4);
    const e = await failure(
      compress(
        tiny,
        options({ format: ImageFormat.PNG, resize: { maxWidth: 65535, maxHeight: 65535, fit: Fit.CONTAIN } }),
        limits,
      ),
    );
    expect(e.code).toBe(ErrorCode.PIXEL_LIMIT);
  });

  it("allows the same box when the output stays within the limit", async () => {
    const tiny = await solid(4);
    // Inside without enlargement: the output is the input's size, whatever the box.
    const out = await compress(
      tiny,
      options({ format: ImageFormat.PNG, resize: { maxWidth: 65535, maxHeight: 65535, fit: Fit.INSIDE } }),
      limits,
    );
    expect([out.width, out.height]).toEqual([4, 4]);
  });
});
