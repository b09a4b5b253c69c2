import { ManifestFormat } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { ManifestError, parseCsv, parseManifest } from "./manifest.js";

const A = "https://cdn.example/a.jpg";
const B = "http://cdn.example/b%2C1.png";

describe("manifests", () => {
  it("reads JSON arrays of URLs or of objects with a url, detected or declared", () => {
    expect(parseManifest(JSON.stringify([A, B]), ManifestFormat.UNSPECIFIED)).toEqual([A, B]);
    expect(parseManifest(JSON.stringify([{ url: A, id: 1 }, { url: B }]), ManifestFormat.JSON)).toEqual([A, B]);
    expect(() => parseManifest('{"url": 1}', ManifestFormat.JSON)).toThrow("expected a JSON array of URLs");
    expect(() => parseManifest("[1]", ManifestFormat.JSON)).toThrow(
      'manifest[0]: expected a URL string or an object with a "url" string',
    );
    expect(() => parseManifest("[", ManifestFormat.UNSPECIFIED)).toThrow(ManifestError);
    // Fetched content is never read back to the caller through an error.
    expect(() => parseManifest('["token=hunter2', ManifestFormat.JSON)).toThrow(/^manifest: not valid JSON$/);
    expect(() => parseManifest("[]", ManifestFormat.JSON)).toThrow("manifest: it lists no URLs");
  });

  it("reads the first CSV column of URLs, or the one named, quoted fields included", () => {
    const csv = `id,title,image_url,thumb\r\n1,"a, b",${A},${B}\n2,"say ""hi""","${B}",\n\n`;
    expect(parseManifest(csv, ManifestFormat.UNSPECIFIED)).toEqual([A, B]);
    expect(parseManifest(csv, ManifestFormat.CSV, "THUMB")).toEqual([B]);
    expect(() => parseManifest(csv, ManifestFormat.CSV, "photo")).toThrow(
      /^manifest: no column "photo" in its header row$/,
    );
    expect(() => parseManifest("id,name\n1,x\n", ManifestFormat.CSV)).toThrow("no CSV column holds http(s) URLs");
  });

  it("reads a bare column of URLs without a header", () => {
    expect(parseManifest(`${A}\n${B}\n`, ManifestFormat.UNSPECIFIED)).toEqual([A, B]);
  });

  it("parses RFC 4180 quoting", () => {
    expect(parseCsv('a,"b\nc","d""e"\n1,2,3')).toEqual([
      ["a", "b\nc", 'd"e'],
      ["1", "2", "3"],
    ]);
  });
});
