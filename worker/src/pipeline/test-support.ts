// Shared by the pipeline's unit tests (and the fault tests under tests/faults): the corpus, default limits,
// options, error capture, and hostile fixtures.
import { readFileSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type CompressionOptions, CompressionOptionsSchema } from "@imgc/proto";
import sharp from "sharp";
import { ItemError } from "../item-error.js";
import { pngChunk } from "./container-strip.js";
import type { Limits } from "./limits.js";
import type { Pixels } from "./ssim.js";

const corpus = new URL("../../../../shared/corpus/", import.meta.url);

/** A file of ../shared/corpus, e.g. "edge/check.svg". */
export const corpusFile = (path: string): Buffer => readFileSync(new URL(path, corpus));

export const corpusDir = (dir: "photos" | "edge" | "bad"): URL => new URL(`${dir}/`, corpus);

export const limits: Limits = { maxInputBytes: 50_000_000, maxPixels: 50_000_000, maxFrames: 500, timeoutMs: 60_000 };

export const options = (init: MessageInitShape<typeof CompressionOptionsSchema> = {}): CompressionOptions =>
  create(CompressionOptionsSchema, init);

/** A valid PNG header declaring width×height, followed by one tiny compressed row and IEND. */
export const declaredPng = (width: number, height: number): Buffer => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(Buffer.alloc(16))),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
};

/** The ItemError a promise rejects with; fails the test when it resolves or rejects with anything else. */
export const failure = async (promise: Promise<unknown>): Promise<ItemError> => {
  const e = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!ItemError.is(e)) throw new Error(`expected an ItemError, got ${String(e)}`);
  return e;
};

// A camera's location, as phones write it: EXIF's GPS IFD and the same in XMP.
export const gpsExif = {
  IFD0: { Copyright: "Jane Doe", Artist: "J. Doe", Make: "PhoneCo", Orientation: "6" },
  IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 2401/100", GPSLongitudeRef: "E", GPSLongitude: "2/1 21/1 0/1" },
};
export const gpsXmp = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.40N" exif:GPSLongitude="2,21.0E"/>
</rdf:RDF></x:xmpmeta>`;

/** IFD0's tag numbers: 0x8825 points at the GPS IFD. */
export const ifd0Tags = (exif: Buffer | undefined): number[] => {
  if (!exif) return [];
  const tiff = exif.subarray(0, 4).toString("latin1") === "Exif" ? exif.subarray(6) : exif;
  const le = tiff.subarray(0, 2).toString("latin1") === "II";
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const ifd = le ? tiff.readUInt32LE(4) : tiff.readUInt32BE(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
};
export const GPS_IFD = 0x8825;

/** An image decoded to 8-bit sRGB pixels, EXIF orientation applied: what a viewer sees, for re-measuring outputs. */
export const pixelsOf = async (data: Buffer): Promise<Pixels> => {
  const { data: px, info } = await sharp(data, { autoOrient: true })
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return { data: px, width: info.width, height: info.height, channels: info.channels };
};
