import { createHash } from "node:crypto";
import type { CompressionOptions } from "@imgc/proto";
import { planOf } from "./plan.js";

/**
 * Bumped whenever the engine would produce different bytes for the same input and options, so that a
 * content-addressed cache never serves an output an older engine made.
 */
export const ENGINE_VERSION = 2;

const stable = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
};

/**
 * A stable hex SHA-256 of what the options mean (defaults applied), for the content-addressed output cache:
 * options that compress the same way (format UNSPECIFIED and AUTO, an empty and an absent target…) hash
 * alike. Throws an ItemError (INVALID_OPTIONS) for options the engine would reject.
 */
export const optionsHash = (options: CompressionOptions): string =>
  createHash("sha256")
    .update(`imgc-engine/${ENGINE_VERSION}\n${stable(planOf(options))}`)
    .digest("hex");
