import type { Sharp } from "sharp";
import type { Header } from "./header.js";
import type { Plan } from "./plan.js";

/** The EXIF fields the strip-keep-copyright policy carries over. */
export interface Copyright {
  Copyright?: string;
  Artist?: string;
}

const TAGS: Record<number, keyof Copyright> = { 33432: "Copyright", 315: "Artist" };
const ASCII = 2;

/**
 * Copyright and Artist from an EXIF block (as sharp returns it: "Exif\0\0" and a TIFF structure), reading
 * IFD0 only, where both live. Anything malformed yields nothing rather than an error: metadata is never a
 * reason to fail an image.
 */
export const readCopyright = (exif: Buffer | undefined): Copyright => {
  const found: Copyright = {};
  if (!exif) return found;
  const tiff = exif.subarray(0, 6).toString("latin1") === "Exif\0\0" ? exif.subarray(6) : exif;
  if (tiff.length < 8) return found;
  const order = tiff.subarray(0, 2).toString("latin1");
  if (order !== "II" && order !== "MM") return found;
  const le = order === "II";
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return found;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) break;
    const field = TAGS[u16(entry)];
    if (!field || u16(entry + 2) !== ASCII) continue;
    const length = u32(entry + 4);
    const at = length <= 4 ? entry + 8 : u32(entry + 8);
    if (at + length > tiff.length) continue;
    // EXIF ASCII is NUL-terminated; Copyright may hold "photographer\0editor".
    const text = tiff
      .subarray(at, at + length)
      .toString("utf8")
      .split("\0")
      .filter((s) => s.trim() !== "")
      .join(" / ")
      .trim();
    if (text) found[field] = text;
  }
  return found;
};

/**
 * Applies the metadata policy to a pipeline over decoded pixels, which carry no metadata of their own:
 * strip writes none; strip-keep-copyright writes back only the copyright fields. (Keep-all encodes from the
 * input instead, see source.ts.)
 */
export const withPolicy = (img: Sharp, plan: Plan, copyright: Copyright): Sharp =>
  plan.metadata === "strip-keep-copyright" && Object.keys(copyright).length > 0
    ? img.withExif({ IFD0: { ...copyright } })
    : img;

// The colour spaces whose embedded profile an output can carry as it is: RGB and grey. Any other (CMYK, Lab)
// is converted to sRGB first.
const carriedSpaces = new Set(["srgb", "rgb", "rgb16", "b-w", "grey16", "scrgb"]);

/**
 * Keep-all over a pipeline that decodes the input: EXIF, XMP, IPTC and the ICC profile survive. A profile the
 * output cannot carry (CMYK) must not be kept: libvips would then write CMYK-profile-relative values as if
 * they were RGB (FOGRA 0/100/100/0 comes out (232,0,0) instead of (227,7,20)). Such an input is converted
 * to sRGB through its profile and tagged sRGB; its EXIF and XMP are kept (IPTC is not: sharp keeps it only
 * together with the profile).
 */
export const keepAll = (img: Sharp, header: Header): Sharp =>
  !carriedSpaces.has(header.space)
    ? img.toColourspace("srgb").keepExif().keepXmp().withIccProfile("srgb")
    : img.keepMetadata();
