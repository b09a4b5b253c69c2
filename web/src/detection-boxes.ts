/**
 * What detection found, drawn over an image in the comparison: a box with its label and score per object, on
 * the original (Detection.source_box, in the source's pixels) or on the result (Detection.box, in the output's).
 * Boxes are placed in percent of the image, so they follow it through every zoom and layout.
 */
import type { ItemDetection } from "@imgc/proto";
import { h } from "./dom.js";

export type Side = "source" | "output";

export interface Placement {
  /** "cup 92%". */
  text: string;
  left: number;
  top: number;
  width: number;
  height: number;
}

const pct = (value: number, of: number) => Math.round((value / of) * 10_000) / 100;

/**
 * The boxes of one side, in percent of that image: the source's boxes against the source's size, the output's
 * against the output's (`outputWidth` × `outputHeight`); an object without a box on that side is left out.
 */
export function placements(
  detection: ItemDetection | undefined,
  side: Side,
  outputWidth: number,
  outputHeight: number,
): Placement[] {
  if (!detection) return [];
  const [width, height] =
    side === "source" ? [detection.sourceWidth, detection.sourceHeight] : [outputWidth, outputHeight];
  if (!width || !height) return [];
  return detection.objects.flatMap((object) => {
    const box = side === "source" ? object.sourceBox : object.box;
    if (!box) return [];
    return [
      {
        text: `${object.label} ${Math.round(object.score * 100)}%`,
        left: pct(box.x, width),
        top: pct(box.y, height),
        width: pct(box.width, width),
        height: pct(box.height, height),
      },
    ];
  });
}

/** A layer over an image holding its boxes (empty when there are none). */
export function boxLayer(list: readonly Placement[], side: Side): HTMLElement {
  return h(
    "div",
    { class: "boxes", "data-side": side, "aria-hidden": "true" },
    ...list.map((p) => {
      // A box at the top edge keeps its label inside, where the image (and the slider's clip) still shows it.
      const box = h(
        "div",
        { class: p.top < 6 ? "box label-inside" : "box" },
        h("span", { class: "box-label" }, p.text),
      );
      Object.assign(box.style, {
        left: `${p.left}%`,
        top: `${p.top}%`,
        width: `${p.width}%`,
        height: `${p.height}%`,
      });
      return box;
    }),
  );
}
