import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { UsageError } from "./args.js";
import { collectFiles } from "./files.js";

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
});
