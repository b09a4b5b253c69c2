/**
 * The options form: what the job does (compress, detect objects, or both), then the options of each. Every
 * change is validated, remembered (localStorage) and reported; a field holding something impossible is marked
 * invalid and keeps the last good value, so a half-typed number never reaches a job.
 */
import { isCocoLabel } from "@imgc/proto";
import { h } from "./dom.js";
import {
  defaultOptions,
  detects,
  type FormatChoice,
  formatLabel,
  formats,
  type GoalChoice,
  limits,
  loadOptions,
  type MetadataChoice,
  type Options,
  parseLabels,
  sanitizeOptions,
  saveOptions,
  type WorkChoice,
} from "./options.js";

export interface OptionsPanel {
  current(): Options;
  /** Brings the form into view and puts the focus on it ("Retry with…"). */
  focus(): void;
}

const formatLabels = Object.fromEntries(formats.map((choice) => [choice, formatLabel(choice)])) as Record<
  FormatChoice,
  string
>;

const formatHints: Record<FormatChoice, string> = {
  auto: "The smallest of JPEG and WebP for each image (WebP and PNG when it has transparency).",
  jpeg: "Best compatibility. Transparency is flattened onto white.",
  webp: "Smaller than JPEG, read by every current browser.",
  avif: "Smallest for photos; slower to encode.",
  png: "Lossless, for graphics and screenshots.",
  keep: "Each image stays in its own format (GIF, TIFF and SVG become PNG).",
};

const goalLabels: Record<GoalChoice, string> = {
  quality: "Quality",
  ssim: "Similarity",
  "max-size": "Max file size",
  lossless: "Lossless",
};

const metadataLabels: Record<MetadataChoice, string> = {
  strip: "Remove all (privacy)",
  "keep-copyright": "Remove all but copyright",
  "keep-all": "Keep everything",
};

const workLabels: Record<WorkChoice, string> = {
  compress: "Compress",
  "compress-detect": "Compress + detect",
  detect: "Detect only",
};

const workHints: Record<WorkChoice, string> = {
  compress: "Smaller files, in the format and size you choose below.",
  "compress-detect":
    "Smaller files, and each image lists the objects in it (people, cups, cars: COCO's 80 kinds); Compare draws their boxes.",
  detect: "Each image lists the objects in it (people, cups, cars: COCO's 80 kinds). No compressed files are made.",
};

function radios<T extends string>(name: string, values: Record<T, string>, className: string): HTMLElement {
  return h(
    "div",
    { class: className },
    ...(Object.entries(values) as [T, string][]).map(([value, label]) =>
      h("label", {}, h("input", { type: "radio", name, value }), h("span", {}, label)),
    ),
  );
}

type Range = { min: number; max: number };

/** A slider over an option's range, described by the hint `<id>-hint`, and the output that shows its value. */
function slider(id: string, name: keyof Options, range: Range, step: number) {
  const input = h("input", {
    type: "range",
    id,
    name,
    min: range.min,
    max: range.max,
    step,
    "aria-describedby": `${id}-hint`,
  });
  return [input, h("output", { for: id, id: `${id}-value` })] as const;
}

/** A field for a whole number in an option's range, described by the hint `<id>-hint` unless another is named. */
function wholeNumber(
  id: string,
  name: keyof Options,
  range: Range,
  more: { placeholder?: string; hint?: string } = {},
) {
  return h("input", {
    type: "number",
    id,
    name,
    min: range.min,
    max: range.max,
    step: 1,
    inputmode: "numeric",
    ...(more.placeholder ? { placeholder: more.placeholder } : {}),
    "aria-describedby": more.hint ?? `${id}-hint`,
  });
}

export function createOptionsPanel(root: HTMLElement, onChange: (options: Options) => void = () => {}): OptionsPanel {
  let options = loadOptions();

  const [quality, qualityOut] = slider("opt-quality", "quality", limits.quality, 1);
  const [ssim, ssimOut] = slider("opt-ssim", "minSsim", limits.minSsim, 0.005);
  const maxKb = wholeNumber("opt-max-kb", "maxKilobytes", limits.maxKilobytes);
  const shrink = h("input", {
    type: "checkbox",
    id: "opt-shrink",
    name: "shrinkToFit",
    "aria-describedby": "opt-shrink-hint",
  });
  // An empty side is "any" (0).
  const width = wholeNumber("opt-width", "maxWidth", limits.side, { placeholder: "Any", hint: "opt-size-hint" });
  const height = wholeNumber("opt-height", "maxHeight", limits.side, { placeholder: "Any", hint: "opt-size-hint" });
  const metadata = h(
    "select",
    { id: "opt-metadata", name: "metadata", "aria-describedby": "opt-metadata-hint" },
    ...(Object.entries(metadataLabels) as [MetadataChoice, string][]).map(([value, label]) =>
      h("option", { value }, label),
    ),
  );
  const [minScore, minScoreOut] = slider("opt-min-score", "minScore", limits.minScore, 0.05);
  const maxObjects = wholeNumber("opt-max-objects", "maxObjects", limits.maxObjects);
  const labels = h("input", {
    type: "text",
    id: "opt-labels",
    name: "labels",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "All 80",
    "aria-describedby": "opt-labels-hint",
  });
  const workHint = h("p", { class: "hint", id: "opt-work-hint" });
  const formatHint = h("p", { class: "hint", id: "opt-format-hint" });
  const losslessHint = h("p", { class: "hint", id: "opt-lossless-hint" });
  // A field holding something impossible says why, beside the red border.
  const fieldError = (id: string) => h("p", { class: "field-error", id, role: "alert", hidden: true });
  const errors = {
    maxKb: fieldError("opt-max-kb-error"),
    width: fieldError("opt-width-error"),
    height: fieldError("opt-height-error"),
    maxObjects: fieldError("opt-max-objects-error"),
    labels: fieldError("opt-labels-error"),
  };
  const reset = h("button", { type: "button", class: "link-button" }, "Reset to defaults");

  const goalPanes: Record<GoalChoice, HTMLElement> = {
    quality: h(
      "div",
      { class: "goal-pane", "data-goal": "quality" },
      h("div", { class: "slider-row" }, h("label", { for: "opt-quality" }, "Quality"), qualityOut),
      quality,
      h("p", { class: "hint", id: "opt-quality-hint" }, "Higher keeps more detail; 75–85 suits most photos."),
    ),
    ssim: h(
      "div",
      { class: "goal-pane", "data-goal": "ssim" },
      h("div", { class: "slider-row" }, h("label", { for: "opt-ssim" }, "Minimum similarity (SSIM)"), ssimOut),
      ssim,
      h("p", { class: "hint", id: "opt-ssim-hint" }, "The lowest quality that still looks this close to the original."),
    ),
    "max-size": h(
      "div",
      { class: "goal-pane", "data-goal": "max-size" },
      h("label", { for: "opt-max-kb" }, "Largest file, in KB"),
      maxKb,
      errors.maxKb,
      h("p", { class: "hint", id: "opt-max-kb-hint" }, "The best quality that fits in this size."),
      h(
        "div",
        { class: "field field-check" },
        h("label", { for: "opt-shrink" }, shrink, " Shrink dimensions to fit"),
        h(
          "p",
          { class: "hint", id: "opt-shrink-hint" },
          "When no quality fits, make the image smaller (same shape) instead of failing.",
        ),
      ),
    ),
    lossless: h("div", { class: "goal-pane", "data-goal": "lossless" }, losslessHint),
  };

  const detection = h(
    "fieldset",
    { class: "detection", "aria-describedby": "opt-labels-hint" },
    h("legend", {}, "Object detection"),
    h(
      "div",
      { class: "field" },
      h("div", { class: "slider-row" }, h("label", { for: "opt-min-score" }, "Minimum score"), minScoreOut),
      minScore,
      h("p", { class: "hint", id: "opt-min-score-hint" }, "Lower finds more objects, and more mistakes."),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "opt-max-objects" }, "Most objects per image"),
      maxObjects,
      errors.maxObjects,
      h("p", { class: "hint", id: "opt-max-objects-hint" }, "The highest scored first."),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "opt-labels" }, "Only these objects"),
      labels,
      errors.labels,
      h(
        "p",
        { class: "hint", id: "opt-labels-hint" },
        "COCO's names, separated by commas: person, cup, car. Empty: all.",
      ),
    ),
  );
  const compression = h(
    "div",
    { class: "compression" },
    h(
      "fieldset",
      { "aria-describedby": "opt-format-hint" },
      h("legend", {}, "Format"),
      radios("format", formatLabels, "segmented"),
      formatHint,
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Size goal"),
      radios("goal", goalLabels, "segmented segmented-2"),
      h("div", { class: "goal-panes" }, ...Object.values(goalPanes)),
    ),
    h(
      "fieldset",
      { "aria-describedby": "opt-size-hint" },
      h("legend", {}, "Largest dimensions"),
      h(
        "div",
        { class: "dimensions" },
        h("label", { for: "opt-width" }, "Width ", h("span", { class: "unit" }, "px")),
        width,
        h("span", { "aria-hidden": "true", class: "times" }, "×"),
        h("label", { for: "opt-height" }, "Height ", h("span", { class: "unit" }, "px")),
        height,
      ),
      errors.width,
      errors.height,
      h(
        "p",
        { class: "hint", id: "opt-size-hint" },
        "Bigger images shrink to fit, keeping their shape. Empty: any size.",
      ),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "opt-metadata" }, "Metadata (EXIF, GPS, camera)"),
      metadata,
      h(
        "p",
        { class: "hint", id: "opt-metadata-hint" },
        "Removing it also drops GPS locations. Orientation is applied first.",
      ),
    ),
  );
  const form = h(
    "form",
    { class: "options", "aria-labelledby": "options-title", novalidate: true },
    h("div", { class: "panel-head" }, h("h2", { id: "options-title" }, "Options"), reset),
    h(
      "fieldset",
      { "aria-describedby": "opt-work-hint" },
      h("legend", {}, "What to do"),
      radios("work", workLabels, "segmented"),
      workHint,
    ),
    compression,
    detection,
  );
  root.replaceChildren(form);

  function radio(name: string, value: string): HTMLInputElement {
    return form.querySelector(`input[name="${name}"][value="${value}"]`) as HTMLInputElement;
  }

  function losslessText(format: FormatChoice): string {
    if (format === "jpeg") {
      return "JPEG has no lossless mode: it is saved at quality 100, which still changes pixels slightly. Choose PNG or WebP to keep every pixel.";
    }
    if (format === "auto" || format === "keep") {
      return "Not a pixel changes (JPEG sources become WebP or PNG, which can be lossless). Files shrink less.";
    }
    return "Not a pixel changes. Files shrink less than with a quality or size goal.";
  }

  function render(): void {
    radio("format", options.format).checked = true;
    radio("goal", options.goal).checked = true;
    formatHint.textContent = formatHints[options.format];
    quality.value = String(options.quality);
    qualityOut.value = String(options.quality);
    ssim.value = String(options.minSsim);
    ssimOut.value = options.minSsim.toFixed(3);
    maxKb.value = String(options.maxKilobytes);
    width.value = options.maxWidth ? String(options.maxWidth) : "";
    height.value = options.maxHeight ? String(options.maxHeight) : "";
    metadata.value = options.metadata;
    radio("work", options.work).checked = true;
    minScore.value = String(options.minScore);
    maxObjects.value = String(options.maxObjects);
    labels.value = options.labels.join(", ");
    shrink.checked = options.shrinkToFit;
    for (const [goal, pane] of Object.entries(goalPanes)) pane.hidden = goal !== options.goal;
    losslessHint.textContent = losslessText(options.format);
    for (const input of [maxKb, width, height, maxObjects, labels]) input.removeAttribute("aria-invalid");
    for (const e of Object.values(errors)) e.hidden = true;
    showWork();
  }

  /** The options of what the job does, and only those. */
  function showWork(): void {
    workHint.textContent = workHints[options.work];
    minScoreOut.value = `${Math.round(options.minScore * 100)} %`;
    compression.hidden = options.work === "detect";
    detection.hidden = !detects(options);
  }

  function markInvalid(input: HTMLInputElement, error: HTMLElement, message: string): void {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", error.id);
    error.textContent = message;
    error.hidden = false;
  }

  function markValid(input: HTMLInputElement, error: HTMLElement): void {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-errormessage");
    error.hidden = true;
  }

  /** At most 12 characters of what a person typed, for a message. */
  function shown(text: string): string {
    return text.length > 12 ? `${text.slice(0, 12)}…` : text;
  }

  /** The number in a field, or undefined when it is not a valid one (an empty side means "any": 0). */
  function numberIn(input: HTMLInputElement, emptyMeans?: number): number | undefined {
    if (input.value.trim() === "" && emptyMeans !== undefined) return emptyMeans;
    const value = input.valueAsNumber;
    const valid = Number.isInteger(value) && value >= Number(input.min) && value <= Number(input.max);
    return valid ? value : undefined;
  }

  function read(): void {
    const next: Record<string, unknown> = {
      ...options,
      format: (form.querySelector('input[name="format"]:checked') as HTMLInputElement | null)?.value,
      goal: (form.querySelector('input[name="goal"]:checked') as HTMLInputElement | null)?.value,
      quality: quality.valueAsNumber,
      minSsim: Math.round(ssim.valueAsNumber * 1000) / 1000,
      metadata: metadata.value,
      work: (form.querySelector('input[name="work"]:checked') as HTMLInputElement | null)?.value,
      minScore: Math.round(minScore.valueAsNumber * 100) / 100,
      shrinkToFit: shrink.checked,
    };
    for (const [input, key, empty, what, error] of [
      [maxKb, "maxKilobytes", undefined, "the largest file (KB)", errors.maxKb],
      [width, "maxWidth", 0, "the width (px; empty for any)", errors.width],
      [height, "maxHeight", 0, "the height (px; empty for any)", errors.height],
      [maxObjects, "maxObjects", undefined, "the most objects per image", errors.maxObjects],
    ] as const) {
      const value = numberIn(input, empty);
      if (value === undefined) {
        markInvalid(
          input,
          error,
          `Expected a whole number between ${input.min} and ${input.max} for ${what} but received "${shown(input.value)}"; the last valid value, ${String(options[key] || "any")}, is used.`,
        );
      } else {
        markValid(input, error);
        next[key] = value;
      }
    }
    const typed = parseLabels(labels.value);
    const wrong = typed.find((label) => !isCocoLabel(label));
    if (wrong !== undefined) {
      markInvalid(
        labels,
        errors.labels,
        `Expected COCO labels such as person, cup or car for the objects but received "${shown(wrong)}"; the last valid list, ${options.labels.join(", ") || "all"}, is used.`,
      );
    } else {
      markValid(labels, errors.labels);
      next.labels = typed;
    }
    options = sanitizeOptions(next);
    qualityOut.value = String(options.quality);
    ssimOut.value = options.minSsim.toFixed(3);
    formatHint.textContent = formatHints[options.format];
    losslessHint.textContent = losslessText(options.format);
    for (const [goal, pane] of Object.entries(goalPanes)) pane.hidden = goal !== options.goal;
    showWork();
    saveOptions(options);
    onChange(options);
  }

  form.addEventListener("input", read);
  form.addEventListener("change", read);
  form.addEventListener("submit", (event) => event.preventDefault());
  reset.addEventListener("click", () => {
    options = { ...defaultOptions };
    saveOptions(options);
    render();
    onChange(options);
  });

  render();
  return {
    current: () => options,
    focus() {
      form.scrollIntoView({ block: "start", behavior: "smooth" });
      (form.querySelector('input[name="format"]:checked') as HTMLInputElement | null)?.focus({ preventScroll: true });
    },
  };
}
