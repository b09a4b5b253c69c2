/**
 * The options form. Every change is validated, remembered (localStorage) and reported; a field holding
 * something impossible is marked invalid and keeps the last good value, so a half-typed number never
 * reaches a job.
 */
import { h } from "./dom.js";
import {
  defaultOptions,
  type FormatChoice,
  formatLabel,
  formats,
  type GoalChoice,
  limits,
  loadOptions,
  type MetadataChoice,
  type Options,
  sanitizeOptions,
  saveOptions,
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

function radios<T extends string>(name: string, values: Record<T, string>, className: string): HTMLElement {
  return h(
    "div",
    { class: className },
    ...(Object.entries(values) as [T, string][]).map(([value, label]) =>
      h("label", {}, h("input", { type: "radio", name, value }), h("span", {}, label)),
    ),
  );
}

export function createOptionsPanel(root: HTMLElement, onChange: (options: Options) => void = () => {}): OptionsPanel {
  let options = loadOptions();

  const quality = h("input", {
    type: "range",
    id: "opt-quality",
    name: "quality",
    min: limits.quality.min,
    max: limits.quality.max,
    step: 1,
    "aria-describedby": "opt-quality-hint",
  });
  const qualityOut = h("output", { for: "opt-quality", id: "opt-quality-value" });
  const ssim = h("input", {
    type: "range",
    id: "opt-ssim",
    name: "minSsim",
    min: limits.minSsim.min,
    max: limits.minSsim.max,
    step: 0.005,
    "aria-describedby": "opt-ssim-hint",
  });
  const ssimOut = h("output", { for: "opt-ssim", id: "opt-ssim-value" });
  const maxKb = h("input", {
    type: "number",
    id: "opt-max-kb",
    name: "maxKilobytes",
    min: limits.maxKilobytes.min,
    max: limits.maxKilobytes.max,
    step: 1,
    inputmode: "numeric",
    "aria-describedby": "opt-max-kb-hint",
  });
  const shrink = h("input", {
    type: "checkbox",
    id: "opt-shrink",
    name: "shrinkToFit",
    "aria-describedby": "opt-shrink-hint",
  });
  const width = h("input", {
    type: "number",
    id: "opt-width",
    name: "maxWidth",
    min: 0,
    max: limits.side.max,
    step: 1,
    inputmode: "numeric",
    placeholder: "Any",
    "aria-describedby": "opt-size-hint",
  });
  const height = h("input", {
    type: "number",
    id: "opt-height",
    name: "maxHeight",
    min: 0,
    max: limits.side.max,
    step: 1,
    inputmode: "numeric",
    placeholder: "Any",
    "aria-describedby": "opt-size-hint",
  });
  const metadata = h(
    "select",
    { id: "opt-metadata", name: "metadata", "aria-describedby": "opt-metadata-hint" },
    ...(Object.entries(metadataLabels) as [MetadataChoice, string][]).map(([value, label]) =>
      h("option", { value }, label),
    ),
  );
  const detect = h("input", {
    type: "checkbox",
    id: "opt-detect",
    name: "detect",
    "aria-describedby": "opt-detect-hint",
  });
  const formatHint = h("p", { class: "hint", id: "opt-format-hint" });
  const losslessHint = h("p", { class: "hint", id: "opt-lossless-hint" });
  // A field holding something impossible says why, beside the red border.
  const fieldError = (id: string) => h("p", { class: "field-error", id, role: "alert", hidden: true });
  const errors = {
    maxKb: fieldError("opt-max-kb-error"),
    width: fieldError("opt-width-error"),
    height: fieldError("opt-height-error"),
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

  const form = h(
    "form",
    { class: "options", "aria-labelledby": "options-title", novalidate: true },
    h("div", { class: "panel-head" }, h("h2", { id: "options-title" }, "Options"), reset),
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
    h(
      "div",
      { class: "field field-check" },
      h("label", { for: "opt-detect" }, detect, " Detect objects"),
      h(
        "p",
        { class: "hint", id: "opt-detect-hint" },
        "Also finds people, cups, cars and the rest of COCO's 80 kinds of object: each image lists them, and Compare draws their boxes.",
      ),
    ),
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
    detect.checked = options.detect;
    shrink.checked = options.shrinkToFit;
    for (const [goal, pane] of Object.entries(goalPanes)) pane.hidden = goal !== options.goal;
    losslessHint.textContent = losslessText(options.format);
    for (const input of [maxKb, width, height]) input.removeAttribute("aria-invalid");
    for (const e of Object.values(errors)) e.hidden = true;
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
      detect: detect.checked,
      shrinkToFit: shrink.checked,
    };
    for (const [input, key, empty, what, error] of [
      [maxKb, "maxKilobytes", undefined, "the largest file (KB)", errors.maxKb],
      [width, "maxWidth", 0, "the width (px; empty for any)", errors.width],
      [height, "maxHeight", 0, "the height (px; empty for any)", errors.height],
    ] as const) {
      const value = numberIn(input, empty);
      error.hidden = value !== undefined;
      if (value === undefined) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-errormessage", error.id);
        const shown = input.value.length > 12 ? `${input.value.slice(0, 12)}…` : input.value;
        error.textContent = `Expected a whole number between ${input.min} and ${input.max} for ${what} but received "${shown}"; the last valid value, ${String(options[key] || "any")}, is used.`;
      } else {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-errormessage");
        next[key] = value;
      }
    }
    options = sanitizeOptions(next);
    qualityOut.value = String(options.quality);
    ssimOut.value = options.minSsim.toFixed(3);
    formatHint.textContent = formatHints[options.format];
    losslessHint.textContent = losslessText(options.format);
    for (const [goal, pane] of Object.entries(goalPanes)) pane.hidden = goal !== options.goal;
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
