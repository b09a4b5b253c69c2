/** Machine output for --json: protobuf JSON for messages (enum names, 64-bit numbers as strings). */

import type { JsonValue } from "@bufbuild/protobuf";
import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Context, println } from "./context.js";

export function messageJson<D extends DescMessage>(schema: D, message: MessageShape<D>): JsonValue {
  return toJson(schema, message, { alwaysEmitImplicit: false });
}

export function printJson(context: Context, value: unknown): void {
  println(context.stdout, JSON.stringify(value, null, 2));
}

/** One compact JSON object per line, for streams (watch --json). */
export function printJsonLine(context: Context, value: unknown): void {
  println(context.stdout, JSON.stringify(value));
}
