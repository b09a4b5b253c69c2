import type { Box } from "./detector.js";

/** Intersection over union of two boxes: 0 apart, 1 the same. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const overlap = w * h;
  return overlap / (a.width * a.height + b.width * b.height - overlap);
}

/**
 * Non-maximum suppression per label: the model proposes several boxes for one object; the best scored is kept
 * and any box of the same label overlapping it by more than `maxIou` is dropped. Boxes of different labels never
 * suppress each other (a cup on a dining table is both). Returns the survivors, highest score first.
 */
export function suppress<T extends { label: string; score: number; sourceBox: Box }>(found: T[], maxIou: number): T[] {
  const kept: T[] = [];
  for (const candidate of [...found].sort((a, b) => b.score - a.score)) {
    const duplicate = kept.some((k) => k.label === candidate.label && iou(k.sourceBox, candidate.sourceBox) > maxIou);
    if (!duplicate) kept.push(candidate);
  }
  return kept;
}
