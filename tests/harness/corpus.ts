import { readdirSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../../scripts/lib/local-stack.js";

/** The shared corpus sits beside the repository (../shared/corpus), in CI as here. */
export const corpusDir = path.resolve(repoRoot, "..", "shared", "corpus");

/** Every file of a corpus folder ("photos", "edge", "bad"), as absolute paths, sorted. */
export function corpusFiles(folder: "photos" | "edge" | "bad"): string[] {
  const dir = path.join(corpusDir, folder);
  return readdirSync(dir)
    .filter((name) => !name.startsWith("."))
    .sort()
    .map((name) => path.join(dir, name));
}
