/**
 * The web client bundles proto/ for the browser: the hand-written vocabulary may import only the generated
 * contract and @bufbuild/protobuf, never Node's modules, and uses no Node-only global.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";

const root = path.resolve(import.meta.dirname, "..");
const files = [
  "index.ts",
  ...readdirSync(import.meta.dirname)
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
    .map((name) => `src/${name}`),
];

describe("proto/ is browser-safe", () => {
  test.each(files)("%s imports only the contract and @bufbuild/protobuf, and no Node global", (file) => {
    const text = readFileSync(path.join(root, file), "utf8");
    const imported = [...text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(\s*"([^"]+)"/g)].map((m) => m[1] ?? m[2]);
    for (const specifier of imported) {
      expect(specifier, file).toMatch(/^(\.\.?\/|@bufbuild\/protobuf(\/|$))/);
    }
    expect(text, file).not.toMatch(/\b(process|Buffer|require|__dirname)\b[.(]/);
  });
});
