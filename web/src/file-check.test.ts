import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { checkFile, mimeType, sniff } from "./file-check.js";

// The shared corpus sits beside the repository.
const corpus = path.resolve(import.meta.dirname, "../../../shared/corpus");
const head = (folder: string, name: string) =>
  new Uint8Array(readFileSync(path.join(corpus, folder, name)).subarray(0, 1024));

describe("sniff, on the real corpus", () => {
  test("every photo and edge case is recognised by its bytes", () => {
    const expected: Record<string, string> = {
      ".jpg": "jpeg",
      ".png": "png",
      ".webp": "webp",
      ".avif": "avif",
      ".gif": "gif",
      ".tiff": "tiff",
      ".svg": "svg",
    };
    for (const folder of ["photos", "edge"]) {
      for (const name of readdirSync(path.join(corpus, folder))) {
        expect(sniff(head(folder, name)), `${folder}/${name}`).toBe(expected[path.extname(name)]);
      }
    }
  });

  test("a font is not an image; damaged images still look like images (their worker reports them)", () => {
    expect(sniff(head("bad", "font-not-an-image.ttf"))).toBeNull();
    expect(sniff(head("bad", "corrupt-header.jpg"))).toBe("jpeg");
    expect(sniff(head("bad", "truncated.png"))).toBe("png");
  });

  test("HEIC is named as such, AVIF with the generic mif1 brand is still AVIF", () => {
    const ftyp = (brand: string, compatible: string) =>
      new TextEncoder().encode(`\0\0\0\x20ftyp${brand}\0\0\0\0${compatible}`);
    expect(sniff(ftyp("heic", "mif1heic"))).toBe("heic");
    expect(sniff(ftyp("mif1", "mif1avif"))).toBe("avif");
  });

  test("SVG behind an XML declaration or a BOM", () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect(sniff(text('\uFEFF<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe("svg");
    expect(sniff(text("<html><body>not svg</body></html>"))).toBeNull();
  });
});

describe("checkFile", () => {
  const file = (bytes: Uint8Array, name: string) => new File([new Uint8Array(bytes)], name);

  test("refuses an empty file, a large one, and a non-image, each with a clear reason", async () => {
    expect(await checkFile(file(new Uint8Array(), "empty.jpg"))).toEqual({
      ok: false,
      reason: "Empty file: there is nothing to compress.",
    });
    const big = await checkFile(file(head("photos", "rocket.jpg"), "rocket.jpg"), 100);
    expect(big).toEqual({ ok: false, reason: "Too large: 1.02 KB, and the limit is 100 bytes per file." });
    const font = await checkFile(file(readFileSync(path.join(corpus, "bad", "font-not-an-image.ttf")), "font.jpg"));
    expect(font.ok).toBe(false);
    expect(!font.ok && font.reason).toMatch(/^Not an image/);
  });

  test("accepts a real photo whatever its name says", async () => {
    const bytes = readFileSync(path.join(corpus, "photos", "street-1024x772.webp"));
    expect(await checkFile(file(bytes, "holiday.JPG"))).toEqual({ ok: true, kind: "webp" });
  });
});

test("each kind is uploaded with its own content type", () => {
  expect(mimeType("jpeg")).toBe("image/jpeg");
  expect(mimeType("webp")).toBe("image/webp");
  expect(mimeType("tiff")).toBe("image/tiff");
  expect(mimeType("svg")).toBe("image/svg+xml");
});
