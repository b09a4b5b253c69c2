import { ImageFormat, QualityLevel } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { optionsHash } from "./options-hash.js";
import { options } from "./test-support.js";

describe("optionsHash", () => {
  it("is a stable hex SHA-256", () => {
    const hash = optionsHash(options({ format: ImageFormat.WEBP }));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(optionsHash(options({ format: ImageFormat.WEBP }))).toBe(hash);
  });

  it("is equal for options that mean the same", () => {
    expect(optionsHash(options())).toBe(optionsHash(options({ format: ImageFormat.AUTO })));
    expect(optionsHash(options({ autoFormats: [ImageFormat.WEBP, ImageFormat.WEBP] }))).toBe(
      optionsHash(options({ autoFormats: [ImageFormat.WEBP] })),
    );
    expect(optionsHash(options({ resize: { maxWidth: 0, maxHeight: 0 } }))).toBe(optionsHash(options()));
    // AUTO's default target is the JPEG_Q80 level; HIGH is a score of 80.
    expect(optionsHash(options({ target: { goal: { case: "level", value: QualityLevel.JPEG_Q80 } } }))).toBe(
      optionsHash(options()),
    );
    expect(optionsHash(options({ target: { goal: { case: "level", value: QualityLevel.HIGH } } }))).toBe(
      optionsHash(options({ target: { goal: { case: "minScore", value: 80 } } })),
    );
  });

  it("differs for options that compress differently", () => {
    const hashes = new Set(
      [
        options(),
        options({ format: ImageFormat.JPEG }),
        options({ target: { goal: { case: "quality", value: 70 } } }),
        options({ target: { goal: { case: "quality", value: 71 } } }),
        options({ resize: { maxWidth: 100 } }),
        options({ progressive: true }),
        options({ allowLarger: true }),
      ].map(optionsHash),
    );
    expect(hashes.size).toBe(7);
  });
});
