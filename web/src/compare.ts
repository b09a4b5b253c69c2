/**
 * The before/after comparison: a dialog with the original and the result over each other, split by a divider
 * (a range input, so it works by keyboard), or side by side with their scrolling tied; both zoom together,
 * from "fit" up to 800 %, by buttons, keys (+, −, 0, 1) or ctrl/⌘ + wheel. Zoomed in, the divider is kept
 * in view, so it always shows which side is the original. Previous/next (buttons, or P and N) step through the
 * batch's results. When the job detected objects, their boxes and labels are drawn over both images: on the
 * original where they are in the source, on the result where they are in the output.
 */
import { formatBytes, formatName, formatSaving, type ImageFormat, type ItemDetection } from "@imgc/proto";
import { boxLayer, placements } from "./detection-boxes.js";
import { h, setText } from "./dom.js";
import { isOffline } from "./error-message.js";

export interface CompareSubject {
  name: string;
  /** The original: the file, when this page still holds it, else the cluster's copy (a presigned URL). */
  before?: Blob | string;
  /** Why the original cannot be shown, when it cannot: said in the dialog instead of an empty half. */
  beforeProblem?: string;
  beforeBytes: number;
  /** Where the result can be read (a presigned URL). */
  after: string;
  afterBytes: number;
  afterFormat: ImageFormat;
  /** The result's size in pixels (0 when unknown: then the image's own). */
  width: number;
  height: number;
  /** What detection found in it, when the job asked. */
  detection?: ItemDetection;
  /** Where this image is among those that can be compared ("3 of 12"). */
  position?: string;
  /** Steps to the neighbouring results, when there are some. */
  previous?: () => void;
  next?: () => void;
}

export interface Compare {
  open(subject: CompareSubject): void;
}

type Mode = "slider" | "side";
const minZoom = 1 / 8;
/** What the dialog says when the device is offline and the original is only on the cluster. */
export const offlineOriginal = "You are offline: the original cannot be loaded now.";
const maxZoom = 8;

export function createCompare(dialog: HTMLDialogElement): Compare {
  let mode: Mode = "slider";
  let zoom: number | "fit" = "fit";
  let size = { width: 0, height: 0 };
  let beforeUrl = "";
  // Only an address this dialog made from a Blob is revoked; the cluster's is a plain URL.
  let blobUrl = "";

  const title = h("h2", { id: "compare-title" });
  const close = h("button", { type: "button", class: "icon-button", "aria-label": "Close comparison" }, "×");
  const modeSlider = h("button", { type: "button", class: "button small", "aria-pressed": "true" }, "Slider");
  const modeSide = h("button", { type: "button", class: "button small", "aria-pressed": "false" }, "Side by side");
  const zoomOut = h("button", { type: "button", class: "button small", "aria-label": "Zoom out" }, "−");
  const zoomIn = h("button", { type: "button", class: "button small", "aria-label": "Zoom in" }, "+");
  const zoomFit = h("button", { type: "button", class: "button small" }, "Fit");
  const zoom100 = h("button", { type: "button", class: "button small" }, "100%");
  const zoomLevel = h("output", { class: "zoom-level", "aria-live": "polite", id: "compare-zoom" });
  const prevButton = h("button", { type: "button", class: "button small", id: "compare-prev" }, "‹ Previous");
  const nextButton = h("button", { type: "button", class: "button small", id: "compare-next" }, "Next ›");
  const position = h("span", { class: "compare-position", id: "compare-position" });
  let step: { previous?: () => void; next?: () => void } = {};

  const before = h("img", { alt: "Original", class: "before", draggable: "false" });
  const after = h("img", { alt: "Compressed", class: "after", draggable: "false" });
  // Without the file and without the cluster's copy (a URL source, another bucket's object), or when loading it
  // failed: the text says which.
  const missing = h("p", { class: "missing", id: "compare-original-missing", role: "status", hidden: true });
  const noOriginal =
    "The cluster keeps no copy of this original (it was read from a URL or another bucket), so only the result is shown.";
  const failedLoad = h(
    "p",
    { class: "missing", id: "compare-load-error", role: "alert", hidden: true },
    "The compressed image could not be loaded: check the connection, then open the comparison again.",
  );
  const divider = h("div", { class: "divider", "aria-hidden": "true" });
  let beforeBoxes = boxLayer([], "source");
  let afterBoxes = boxLayer([], "output");
  const stageA = h("div", { class: "stage" });
  const stageB = h("div", { class: "stage" });
  const viewA = h(
    "div",
    { class: "viewport", tabindex: 0, role: "group", "aria-label": "Comparison: scroll to move around" },
    stageA,
  );
  const viewB = h(
    "div",
    {
      class: "viewport",
      tabindex: 0,
      role: "group",
      "aria-label": "Compressed image: scroll to move around",
      hidden: true,
    },
    stageB,
  );
  const split = h("input", {
    type: "range",
    min: 0,
    max: 100,
    step: 1,
    value: 50,
    id: "compare-split",
    "aria-label": "Divider position: left shows the original, right the result",
  });
  const beforeCaption = h("p", { class: "caption" });
  const afterCaption = h("p", { class: "caption" });

  dialog.classList.add("compare");
  dialog.setAttribute("aria-labelledby", "compare-title");
  dialog.replaceChildren(
    h(
      "div",
      { class: "compare-head" },
      title,
      h(
        "div",
        { class: "toolbar" },
        h("div", { role: "group", "aria-label": "Layout", class: "group" }, modeSlider, modeSide),
        h("div", { role: "group", "aria-label": "Zoom", class: "group" }, zoomOut, zoomLevel, zoomIn, zoomFit, zoom100),
        h("div", { role: "group", "aria-label": "Other images", class: "group" }, prevButton, position, nextButton),
        close,
      ),
    ),
    missing,
    failedLoad,
    h("div", { class: "viewports" }, viewA, viewB),
    h("div", { class: "compare-foot" }, beforeCaption, h("div", { class: "split-row" }, split), afterCaption),
  );

  function effectiveZoom(): number {
    if (zoom !== "fit") return zoom;
    if (!size.width || !size.height) return 1;
    const box = viewA.getBoundingClientRect();
    const fit = Math.min(box.width / size.width, box.height / size.height);
    // Fit shrinks a large image to the window but never blows a small one up: zoom in for that.
    return fit > 0 ? Math.min(1, fit) : 1;
  }

  function layout(keepCenter = true): void {
    const z = effectiveZoom();
    const centre = keepCenter ? centreOf(viewA) : { x: 0.5, y: 0.5 };
    for (const stage of [stageA, stageB]) {
      stage.style.width = `${Math.round(size.width * z)}px`;
      stage.style.height = `${Math.round(size.height * z)}px`;
    }
    setText(zoomLevel, zoom === "fit" ? `Fit (${Math.round(z * 100)}%)` : `${Math.round(z * 100)}%`);
    for (const view of mode === "side" ? [viewA, viewB] : [viewA]) restoreCentre(view, centre);
    keepDividerInView();
  }

  /** Zoomed in, the divider may have scrolled away: bring it to the middle of what is visible. */
  function keepDividerInView(): void {
    if (mode !== "slider" || split.disabled) return;
    const width = stageA.offsetWidth;
    if (width <= viewA.clientWidth) return;
    const x = (Number(split.value) / 100) * width;
    const margin = 24;
    if (x >= viewA.scrollLeft + margin && x <= viewA.scrollLeft + viewA.clientWidth - margin) return;
    setSplit(Math.round(((viewA.scrollLeft + viewA.clientWidth / 2) / width) * 100));
  }

  function centreOf(view: HTMLElement) {
    return {
      x: view.scrollWidth ? (view.scrollLeft + view.clientWidth / 2) / view.scrollWidth : 0.5,
      y: view.scrollHeight ? (view.scrollTop + view.clientHeight / 2) / view.scrollHeight : 0.5,
    };
  }

  function restoreCentre(view: HTMLElement, c: { x: number; y: number }): void {
    view.scrollLeft = c.x * view.scrollWidth - view.clientWidth / 2;
    view.scrollTop = c.y * view.scrollHeight - view.clientHeight / 2;
  }

  function setZoom(next: number | "fit"): void {
    zoom = next === "fit" ? "fit" : Math.min(maxZoom, Math.max(minZoom, next));
    layout();
  }

  function setSplit(percent: number): void {
    const p = Math.min(100, Math.max(0, percent));
    split.value = String(p);
    after.style.clipPath = mode === "slider" ? `inset(0 0 0 ${p}%)` : "";
    afterBoxes.style.clipPath = after.style.clipPath;
    // Over the slider, each side's boxes show only where that side's image does.
    beforeBoxes.style.clipPath = mode === "slider" ? `inset(0 ${100 - p}% 0 0)` : "";
    divider.style.left = `${p}%`;
  }

  function setMode(next: Mode): void {
    const hasBefore = beforeUrl !== "";
    mode = hasBefore ? next : "slider";
    if (!hasBefore) stageA.replaceChildren(after, afterBoxes);
    else if (mode === "slider") stageA.replaceChildren(before, beforeBoxes, after, afterBoxes, divider);
    else stageA.replaceChildren(before, beforeBoxes);
    stageB.replaceChildren(...(mode === "side" ? [after, afterBoxes] : []));
    viewB.hidden = mode !== "side";
    modeSlider.setAttribute("aria-pressed", String(mode === "slider"));
    modeSide.setAttribute("aria-pressed", String(mode === "side"));
    modeSide.disabled = !hasBefore;
    split.disabled = mode === "side" || !hasBefore;
    dialog.dataset.mode = mode;
    setSplit(hasBefore ? Number(split.value) : 0);
    layout(false);
  }

  // Dragging across the image moves the divider, as people expect of a before/after slider.
  let dragging = false;
  const moveTo = (event: PointerEvent) => {
    const box = stageA.getBoundingClientRect();
    if (box.width > 0) setSplit(((event.clientX - box.left) / box.width) * 100);
  };
  stageA.addEventListener("pointerdown", (event) => {
    if (mode !== "slider" || split.disabled || event.button !== 0) return;
    dragging = true;
    stageA.setPointerCapture(event.pointerId);
    moveTo(event);
  });
  stageA.addEventListener("pointermove", (event) => dragging && moveTo(event));
  stageA.addEventListener("pointerup", () => {
    dragging = false;
  });
  stageA.addEventListener("pointercancel", () => {
    dragging = false;
  });
  split.addEventListener("input", () => setSplit(Number(split.value)));

  let syncing = false;
  const sync = (from: HTMLElement, to: HTMLElement) => () => {
    if (syncing || mode !== "side") return;
    syncing = true;
    to.scrollLeft = from.scrollLeft;
    to.scrollTop = from.scrollTop;
    requestAnimationFrame(() => {
      syncing = false;
    });
  };
  viewA.addEventListener("scroll", sync(viewA, viewB));
  viewA.addEventListener("scroll", () => keepDividerInView());
  viewB.addEventListener("scroll", sync(viewB, viewA));

  const wheel = (event: WheelEvent) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    setZoom(effectiveZoom() * (event.deltaY < 0 ? 1.25 : 0.8));
  };
  viewA.addEventListener("wheel", wheel, { passive: false });
  viewB.addEventListener("wheel", wheel, { passive: false });

  modeSlider.addEventListener("click", () => setMode("slider"));
  modeSide.addEventListener("click", () => setMode("side"));
  zoomIn.addEventListener("click", () => setZoom(effectiveZoom() * 2));
  zoomOut.addEventListener("click", () => setZoom(effectiveZoom() / 2));
  zoomFit.addEventListener("click", () => setZoom("fit"));
  zoom100.addEventListener("click", () => setZoom(1));
  close.addEventListener("click", () => dialog.close());
  prevButton.addEventListener("click", () => step.previous?.());
  nextButton.addEventListener("click", () => step.next?.());
  after.addEventListener("error", () => {
    if (after.getAttribute("src")) failedLoad.hidden = false;
  });
  before.addEventListener("error", () => {
    if (!before.getAttribute("src") || blobUrl) return;
    showMissing(
      !isOffline()
        ? "The cluster's copy of the original could not be loaded (the uploads' retention may have removed it), so only the result is shown."
        : offlineOriginal,
    );
  });

  function showMissing(text: string): void {
    setText(missing, text);
    missing.hidden = false;
  }
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("keydown", (event) => {
    if ((event.target as HTMLElement).closest("input")) return;
    const keys: Record<string, () => void> = {
      "+": () => setZoom(effectiveZoom() * 2),
      "=": () => setZoom(effectiveZoom() * 2),
      "-": () => setZoom(effectiveZoom() / 2),
      "0": () => setZoom("fit"),
      "1": () => setZoom(1),
      p: () => step.previous?.(),
      n: () => step.next?.(),
    };
    const run = keys[event.key];
    if (run && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      run();
    }
  });
  dialog.addEventListener("close", () => {
    if (blobUrl) URL.revokeObjectURL(blobUrl);
    beforeUrl = blobUrl = "";
    before.removeAttribute("src");
    after.removeAttribute("src");
  });
  window.addEventListener("resize", () => dialog.open && zoom === "fit" && layout());
  after.addEventListener("load", () => {
    if (!size.width || !size.height) {
      size = { width: after.naturalWidth, height: after.naturalHeight };
      layout(false);
    }
  });

  return {
    open(subject) {
      setText(title, subject.name);
      size = { width: subject.width, height: subject.height };
      beforeBoxes = boxLayer(placements(subject.detection, "source", subject.width, subject.height), "source");
      afterBoxes = boxLayer(placements(subject.detection, "output", subject.width, subject.height), "output");
      // Stepping to the next image leaves the dialog open: the last original's URL goes now.
      if (blobUrl) URL.revokeObjectURL(blobUrl);
      blobUrl = subject.before instanceof Blob ? URL.createObjectURL(subject.before) : "";
      beforeUrl = blobUrl || (typeof subject.before === "string" ? subject.before : "");
      missing.hidden = true;
      if (beforeUrl) before.src = beforeUrl;
      else {
        before.removeAttribute("src");
        showMissing(subject.beforeProblem ?? noOriginal);
      }
      failedLoad.hidden = true;
      after.src = subject.after;
      step = {
        ...(subject.previous ? { previous: subject.previous } : {}),
        ...(subject.next ? { next: subject.next } : {}),
      };
      prevButton.disabled = !subject.previous;
      nextButton.disabled = !subject.next;
      setText(position, subject.position ?? "");
      setText(beforeCaption, `Original · ${formatBytes(subject.beforeBytes)}`);
      const saving = formatSaving(subject.beforeBytes, subject.afterBytes);
      setText(
        afterCaption,
        `Compressed · ${formatBytes(subject.afterBytes)} · ${formatName(subject.afterFormat)}${saving ? ` (${saving})` : ""}`,
      );
      zoom = "fit";
      split.value = "50";
      if (!dialog.open) dialog.showModal();
      setMode(beforeUrl ? mode : "slider");
      split.focus();
    },
  };
}
