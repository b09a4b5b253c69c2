import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { UsageError } from "./args.js";
import { collectFiles, contentTypeOf, createOutputNamer } from "./files.js";

describe("files", () => {
  test("directories are searched recursively for images; named files are taken as they are", async () => {
    const root = await mkdtemp(join(tmpdir(), "imgc-cli-files-"));
    await mkdir(join(root, "album", "deeper"), { recursive: true });
    for (const name of ["album/b.JPG", "album/a.png", "album/notes.txt", "album/deeper/c.webp", "font.ttf"]) {
      await writeFile(join(root, name), "x");
    }
    expect(await collectFiles([join(root, "album"), join(root, "font.ttf"), join(root, "album", "a.png")])).toEqual([
      join(root, "album", "a.png"),
      join(root, "album", "b.JPG"),
      join(root, "album", "deeper", "c.webp"),
      join(root, "font.ttf"),
    ]);
    await expect(collectFiles([join(root, "missing.jpg")])).rejects.toThrow(UsageError);
  });

  test("outputs take the source's base name and the output's extension, unique within a run", () => {
    const name = createOutputNamer();
    expect(name("/a/photo.jpg", "outputs/t/j/000000.webp")).toBe("photo.webp");
    expect(name("/b/photo.png", "outputs/t/j/000001.webp")).toBe("photo-2.webp");
    expect(name("/c/Photo.jpeg", "outputs/t/j/000002.webp")).toBe("Photo-3.webp");
    expect(name("/d/photo.jpg", "outputs/t/j/000003.jpg")).toBe("photo.jpg");
  });

  test("content types from extensions", () => {
    expect(contentTypeOf("a.JPG")).toBe("image/jpeg");
    expect(contentTypeOf("a.svg")).toBe("image/svg+xml");
    expect(contentTypeOf("a.bin")).toBe("application/octet-stream");
  });
});
