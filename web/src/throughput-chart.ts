/** The throughput history as a small inline SVG bar chart, one bar per bucket, images per second upward. */
import { svg } from "./dom.js";
import { formatRate } from "./format.js";
import type { Bucket } from "./throughput.js";

const width = 600;
const height = 160;
const pad = { left: 36, right: 8, top: 10, bottom: 22 };

/** A round axis maximum at or above `value` (1, 2, 5, 10, 20, 50...). */
function niceMax(value: number): number {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export function renderThroughputChart(buckets: readonly Bucket[], bucketMs: number, summary: string): SVGSVGElement {
  const rates = buckets.map((b) => b.items / (bucketMs / 1000));
  const max = niceMax(Math.max(0, ...rates));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, buckets.length);
  const y = (rate: number) => pad.top + plotH - (rate / max) * plotH;
  const minutes = Math.round((buckets.length * bucketMs) / 60_000);

  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": summary },
    svg("title", {}, summary),
    ...[0, 0.5, 1].map((f) =>
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y(max * f), y2: y(max * f), class: "grid" }),
    ),
    svg("text", { x: pad.left - 6, y: y(max) + 4, class: "axis", "text-anchor": "end" }, formatRate(max)),
    svg("text", { x: pad.left - 6, y: y(0) + 4, class: "axis", "text-anchor": "end" }, "0"),
    ...rates.map((rate, i) =>
      svg("rect", {
        x: pad.left + i * slot + 1,
        y: y(rate),
        width: Math.max(1, slot - 2),
        height: Math.max(0, y(0) - y(rate)),
        class: "bar",
        rx: 1.5,
      }),
    ),
    svg("text", { x: pad.left, y: height - 6, class: "axis" }, `${minutes} min ago`),
    svg("text", { x: width - pad.right, y: height - 6, class: "axis", "text-anchor": "end" }, "now"),
  );
}
