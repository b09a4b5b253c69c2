import { describe, expect, it } from "vitest";
import { listObjectsQuery, parseListObjects, xmlText } from "./s3-list.js";

const page = (fields: string, contents: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${fields}${contents
    .map((c) => `<Contents>${c}</Contents>`)
    .join("")}</ListBucketResult>`;
const object = (key: string, size: number, etag = "&quot;abc&quot;") =>
  `<Key>${key}</Key><LastModified>2026-12-03T00:00:00.000Z</LastModified><ETag>${etag}</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass>`;

describe("ListObjects answers", () => {
  it("reads keys, sizes, ETags, and goes on after the last key (URL-encoded keys, as S3 and MinIO send them)", () => {
    const xml = page(
      "<Name>imgc</Name><Prefix>in%2F</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>",
      [object("in/a+b.jpg", 10), object("in/a%2Bb.jpg", 11), object("in/50%25%20%26%3C.png", 12)],
    );
    expect(parseListObjects(xml)).toEqual({
      objects: [
        { key: "in/a b.jpg", size: 10, etag: '"abc"' },
        { key: "in/a+b.jpg", size: 11, etag: '"abc"' },
        { key: "in/50% &<.png", size: 12, etag: '"abc"' },
      ],
      next: "in/50% &<.png",
    });
  });

  it("finds the encoding after the objects too (MinIO sends EncodingType last)", () => {
    const xml = `<ListBucketResult><Name>imgc</Name><IsTruncated>false</IsTruncated><Contents>${object("a%2Bb+c", 1)}</Contents><EncodingType>url</EncodingType></ListBucketResult>`;
    expect(parseListObjects(xml).objects.map((o) => o.key)).toEqual(["a+b c"]);
  });

  it("keeps keys as sent by a server that ignores encoding-type (only XML escapes are resolved)", () => {
    const xml = page("<IsTruncated>false</IsTruncated>", [
      object("in/a+b 50%.jpg", 1),
      object("in/x&amp;y &lt;z&gt; &#233;&#x1F600;.gif", 2),
    ]);
    expect(parseListObjects(xml).objects.map((o) => o.key)).toEqual(["in/a+b 50%.jpg", "in/x&y <z> é😀.gif"]);
    expect(parseListObjects(xml).next).toBeUndefined();
  });

  it("reads an empty listing, and the page fields after the objects", () => {
    expect(parseListObjects(page("<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>", []))).toEqual({
      objects: [],
      next: undefined,
    });
    const after = `<ListBucketResult>${["<Contents>", object("k", 3), "</Contents>"].join("")}<IsTruncated>true</IsTruncated><NextMarker>n%2B2</NextMarker><EncodingType>url</EncodingType></ListBucketResult>`;
    // A NextMarker (sent with a delimiter) is where the next page starts, decoded as the keys are.
    expect(parseListObjects(after)).toEqual({ objects: [{ key: "k", size: 3, etag: '"abc"' }], next: "n+2" });
  });

  it("refuses what is not a listing: an error body, an unclosed object, a truncated page with nothing to go on from", () => {
    expect(() => parseListObjects("<Error><Code>AccessDenied</Code></Error>")).toThrow(/not a ListBucketResult/);
    expect(() => parseListObjects("<ListBucketResult><Contents><Key>a</Key>")).toThrow(/not closed/);
    expect(() => parseListObjects(page("<IsTruncated>true</IsTruncated>", []))).toThrow(/go on from/);
  });

  it("resolves XML references and leaves unknown ones as they are", () => {
    expect(xmlText("a&amp;b &apos;&quot; &#65;&#x42; &nbsp;")).toBe("a&b '\" AB &nbsp;");
  });

  it("builds the query sorted, with S3's escaping", () => {
    expect(listObjectsQuery("in/it's (1)*", "in/a+b c.jpg")).toBe(
      "encoding-type=url&marker=in%2Fa%2Bb%20c.jpg&max-keys=1000&prefix=in%2Fit%27s%20%281%29%2A",
    );
    expect(listObjectsQuery("in/")).toBe("encoding-type=url&max-keys=1000&prefix=in%2F");
  });
});
