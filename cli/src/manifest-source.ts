/** `--manifest`: a manifest of image URLs, passed by URL (the cluster fetches it) or read here and sent inline. */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ManifestFormat, type SourceSchema } from "@imgc/proto";
import { UsageError } from "./args.js";

export async function manifestSource(arg: string, column = ""): Promise<MessageInitShape<typeof SourceSchema>> {
  if (/^https?:\/\//i.test(arg)) {
    return { kind: { case: "manifest", value: { content: { case: "url", value: arg }, column } } };
  }
  let text: string;
  try {
    text = await readFile(arg, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read the manifest ${arg}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const extension = extname(arg).toLowerCase();
  const format =
    extension === ".csv"
      ? ManifestFormat.CSV
      : extension === ".json"
        ? ManifestFormat.JSON
        : ManifestFormat.UNSPECIFIED;
  return { kind: { case: "manifest", value: { content: { case: "inline", value: text }, format, column } } };
}
