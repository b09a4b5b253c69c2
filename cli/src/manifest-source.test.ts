import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManifestFormat } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { UsageError } from "./args.js";
import { manifestSource } from "./manifest-source.js";

describe("--manifest", () => {
  it("passes a URL for the cluster to fetch", async () => {
    expect(await manifestSource("https://cdn.example/list.csv", "photo")).toEqual({
      kind: {
        case: "manifest",
        value: { content: { case: "url", value: "https://cdn.example/list.csv" }, column: "photo" },
      },
    });
  });

  it("sends a file inline, its format from the extension", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imgc-cli-"));
    await writeFile(join(dir, "m.csv"), "url\nhttps://a/1.jpg\n");
    await writeFile(join(dir, "m.txt"), '["https://a/1.jpg"]');
    expect(await manifestSource(join(dir, "m.csv"))).toEqual({
      kind: {
        case: "manifest",
        value: { content: { case: "inline", value: "url\nhttps://a/1.jpg\n" }, format: ManifestFormat.CSV, column: "" },
      },
    });
    const detected = await manifestSource(join(dir, "m.txt"));
    expect(detected.kind?.case === "manifest" && detected.kind.value.format).toBe(ManifestFormat.UNSPECIFIED);
    await expect(manifestSource(join(dir, "missing.json"))).rejects.toThrow(UsageError);
  });
});
