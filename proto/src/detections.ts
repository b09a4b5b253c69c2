// How the clients (gateway reports, CLI, web) name what detection found.
import type { ItemDetection } from "../gen/imgc/v1/job_pb.js";

/** Between labels in one text cell ("person;cup"): a comma would split a CSV cell, and no COCO label has ";". */
export const LABEL_SEPARATOR = ";";

/** The distinct labels found, in the objects' order (highest score first); empty without a detection. */
export function detectedLabels(detection: ItemDetection | undefined): string[] {
  return [...new Set((detection?.objects ?? []).map((object) => object.label))];
}
