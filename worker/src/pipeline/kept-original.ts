import { ImageFormat, type InputFormat } from "@imgc/proto";
import { stripContainer } from "./container-strip.js";
import type { Header } from "./header.js";
import { readCopyright } from "./metadata.js";
import type { Plan } from "./plan.js";

/**
 * The original as never-larger may store it, or undefined where it may not be stored at all:
 * - an SVG never: it may be active content (<script>, event handlers, external references), so only the raster
 *   it was rendered to is stored, however much larger;
 * - keep-all: the file as uploaded;
 * - strip and strip-keep-copyright: JPEG, PNG and WebP lose their metadata at the container level (the
 *   pixels and the ICC profile untouched; the EXIF orientation, and Copyright/Artist where the policy keeps
 *   them, carried in a fresh minimal EXIF); any other format is kept only when it carries no metadata.
 */
export const keptOriginal = (input: Buffer, format: InputFormat, header: Header, plan: Plan): Buffer | undefined => {
  if (format === ImageFormat.SVG) return undefined;
  if (plan.metadata === "keep-all") return input;
  const copyright = plan.metadata === "strip-keep-copyright" ? readCopyright(header.exif) : {};
  const stripped = stripContainer(input, format, { orientation: header.orientation, ...copyright });
  if (stripped) return stripped.equals(input) ? input : stripped;
  return header.hasMetadata ? undefined : input;
};
