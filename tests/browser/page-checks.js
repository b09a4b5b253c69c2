// @ts-check
/**
 * Code that runs inside the page under test (Playwright serialises each function, so none may use anything
 * from outside itself). Plain JavaScript, typed by page-checks.d.ts: the repository's TypeScript has no DOM
 * library, and the page's globals exist only here.
 */

/** @returns {{ name: string, phase: string, state: string, detail: string, technical: string, before: string, after: string, saving: string, worker: string }[]} */
export function readRows() {
  return [...document.querySelectorAll("#items tbody tr")].map((tr) => {
    const text = (/** @type {string} */ selector) => tr.querySelector(selector)?.textContent?.trim() ?? "";
    return {
      name: text(".name"),
      phase: tr.getAttribute("data-phase") ?? "",
      state: text(".badge"),
      detail: text(".detail"),
      technical: tr.querySelector(".detail")?.getAttribute("title") ?? "",
      before: text(".c-before"),
      after: text(".c-after"),
      saving: text(".c-saving"),
      worker: tr.getAttribute("data-worker") ?? "",
    };
  });
}

/** @param {[string[], number]} arg rows in any of these phases, and how many there must be */
export function rowsInPhases([phases, count]) {
  return (
    [...document.querySelectorAll("#items tbody tr")].filter((tr) =>
      phases.includes(tr.getAttribute("data-phase") ?? ""),
    ).length === count
  );
}

export function jobEnded() {
  return /^(Completed|Failed|Cancelled)/.test(document.querySelector("#job-state")?.textContent ?? "");
}

export function jobShown() {
  return document.querySelector("section.job[data-job]") !== null;
}

/** @param {string} selector the element's box lies within the window */
export function inViewport(selector) {
  const box = document.querySelector(selector)?.getBoundingClientRect();
  return box !== undefined && box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}

/** @param {[string, string]} arg an element and the box it must lie within horizontally */
export function insideHorizontally([inner, outer]) {
  const a = document.querySelector(inner)?.getBoundingClientRect();
  const b = document.querySelector(outer)?.getBoundingClientRect();
  return a !== undefined && b !== undefined && a.left >= b.left - 1 && a.right <= b.right + 1;
}

/** Elements wider than the window (a table spilling out of a phone screen), described for a failure message. */
export function widerThanWindow() {
  return [...document.querySelectorAll("main *")]
    .filter((el) => {
      const box = el.getBoundingClientRect();
      return box.width > 0 && box.right > window.innerWidth + 1 && !el.closest(".table-wrap");
    })
    .map(
      (el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`,
    )
    .slice(0, 5);
}

/** @returns {Promise<void>} once the page has drawn its next frame (what the app defers to one has run) */
export function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

/** @param {string} selector every image it matches has loaded */
export function imagesLoaded(selector) {
  const images = /** @type {HTMLImageElement[]} */ ([...document.querySelectorAll(selector)]);
  return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
}

/** @param {string} selector */
export function naturalWidth(selector) {
  return /** @type {HTMLImageElement | null} */ (document.querySelector(selector))?.naturalWidth ?? 0;
}

/** @param {string} selector */
export function boxWidth(selector) {
  return document.querySelector(selector)?.getBoundingClientRect().width ?? 0;
}

export function pageWidth() {
  return document.documentElement.scrollWidth;
}

/** @param {string} selector */
export function focusIs(selector) {
  return document.activeElement?.matches(selector) ?? false;
}

/** @param {[string, string]} arg a selector and a data attribute: that attribute of every match */
export function dataOf([selector, name]) {
  return [...document.querySelectorAll(selector)].map((el) => el.getAttribute(`data-${name}`) ?? "");
}

/** Form controls and links that are visible but have no accessible name, described for a failure message. */
export function unnamedControls() {
  const visible = (/** @type {Element} */ el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const named = (/** @type {HTMLElement} */ el) => {
    if (el.getAttribute("aria-label")?.trim()) return true;
    const labelledBy = el.getAttribute("aria-labelledby");
    if (labelledBy?.split(/\s+/).some((id) => document.getElementById(id)?.textContent?.trim())) return true;
    if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) {
      if (el.labels?.length) return true;
    }
    if (el.closest("label")?.textContent?.trim()) return true;
    if (el instanceof HTMLButtonElement || el instanceof HTMLAnchorElement) return (el.textContent ?? "").trim() !== "";
    return false;
  };
  return [
    .../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("input, select, textarea, button, a[href]")),
  ]
    .filter((el) => !(el instanceof HTMLInputElement && el.type === "file") && visible(el) && !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}

/** Visible text whose contrast against its background is below WCAG AA (4.5:1, or 3:1 for large text). */
export function lowContrastText() {
  /** @param {string} colour */
  const parse = (colour) => {
    const m = colour.match(/rgba?\(([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+%?))?\)/);
    if (!m) return undefined;
    const a = m[4] === undefined ? 1 : m[4].endsWith("%") ? Number.parseFloat(m[4]) / 100 : Number(m[4]);
    return { r: Number(m[1]), g: Number(m[2]), b: Number(m[3]), a };
  };
  /** @param {{ r: number, g: number, b: number }} c */
  const luminance = ({ r, g, b }) => {
    const lin = (/** @type {number} */ v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  /** The solid colour behind an element: its ancestors' backgrounds, blended from the page up. */
  const background = (/** @type {Element} */ el) => {
    /** @type {{ r: number, g: number, b: number, a: number }[]} */
    const layers = [];
    for (let node = /** @type {Element | null} */ (el); node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c.a > 0) layers.push(c);
      if (c && c.a >= 1) break;
    }
    let out = { r: 255, g: 255, b: 255 };
    for (const layer of layers.reverse()) {
      out = {
        r: layer.r * layer.a + out.r * (1 - layer.a),
        g: layer.g * layer.a + out.g * (1 - layer.a),
        b: layer.b * layer.a + out.b * (1 - layer.a),
      };
    }
    return out;
  };
  /** @type {string[]} */
  const problems = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || seen.has(el) || !node.textContent?.trim()) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || style.visibility === "hidden") continue;
    if (el.closest("[hidden], .visually-hidden, svg, option, button:disabled, input:disabled")) continue;
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(el);
    const text = {
      r: fg.r * fg.a + bg.r * (1 - fg.a),
      g: fg.g * fg.a + bg.g * (1 - fg.a),
      b: fg.b * fg.a + bg.b * (1 - fg.a),
    };
    const [l1, l2] = [luminance(text), luminance(bg)].sort((a, b) => b - a);
    const ratio = ((l1 ?? 0) + 0.05) / ((l2 ?? 0) + 0.05);
    const size = Number.parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(
        `${ratio.toFixed(2)}:1 "${node.textContent.trim().slice(0, 40)}" (${style.color} on ${JSON.stringify(bg)})`,
      );
    }
  }
  return problems;
}

/** Installed before the page loads: records every layout shift that input did not cause. */
export function recordLayoutShifts() {
  /** @type {{ value: number, at: number, nodes: string[] }[]} */
  const shifts = [];
  Object.assign(window, { __shifts: shifts });
  new PerformanceObserver((list) => {
    for (const entry of /** @type {any[]} */ (list.getEntries())) {
      if (entry.hadRecentInput) continue;
      shifts.push({
        value: entry.value,
        at: Math.round(entry.startTime),
        nodes: (entry.sources ?? []).map((/** @type {{ node?: Node }} */ s) =>
          s.node instanceof Element ? s.node.outerHTML.slice(0, 80) : String(s.node),
        ),
      });
    }
  }).observe({ type: "layout-shift", buffered: true });
}

/** @returns {{ value: number, at: number, nodes: string[] }[]} */
export function layoutShifts() {
  return /** @type {any} */ (window).__shifts ?? [];
}

/** Installed before the page loads: counts the XHR PUTs (uploads) in flight, keeping the peak. */
export function recordUploadConcurrency() {
  const state = { inFlight: 0, peak: 0, total: 0 };
  Object.assign(window, { __uploads: state });
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (/** @type {string} */ method, /** @type {string | URL} */ url, ...rest) {
    Object.assign(this, { __isPut: method.toUpperCase() === "PUT" });
    // @ts-expect-error the remaining arguments of open() pass through as given
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (/** @type {any} */ (this).__isPut) {
      state.inFlight++;
      state.total++;
      state.peak = Math.max(state.peak, state.inFlight);
      // readystatechange to DONE comes before load: the page may start its next PUT from its load handler.
      const done = () => {
        if (this.readyState !== XMLHttpRequest.DONE) return;
        state.inFlight--;
        this.removeEventListener("readystatechange", done);
      };
      this.addEventListener("readystatechange", done);
    }
    return send.call(this, body);
  };
}

/** @returns {{ inFlight: number, peak: number, total: number }} */
export function uploadConcurrency() {
  return /** @type {any} */ (window).__uploads;
}

/** Whether the throughput chart draws at least one bar above zero. */
export function chartHasBars() {
  return [...document.querySelectorAll("#throughput-chart rect.bar")].some(
    (bar) => Number(bar.getAttribute("height")) > 0,
  );
}

/**
 * Drops files on the page the way a person does (dragenter, dragover, drop on the document), built in the page
 * from base64 bytes because a test cannot hand the OS's drag data to a headless browser.
 * @param {{ name: string, type: string, base64: string, lastModified: number }[]} files
 */
export function dropFiles(files) {
  const data = new DataTransfer();
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], file.name, { type: file.type, lastModified: file.lastModified }));
  }
  const target = document.querySelector("#job") ?? document.body;
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}

/** The page's text. */
export function bodyText() {
  return document.body.textContent ?? "";
}

/** @param {string} jobId the address names another job than this one */
export function hashLeft(jobId) {
  return location.hash.startsWith("#/jobs/") && !location.hash.endsWith(jobId);
}

/** Whether the page would ask before being left now (its beforeunload handler cancels the event). */
export function leavingAsks() {
  const event = new Event("beforeunload", { cancelable: true });
  window.dispatchEvent(event);
  return event.defaultPrevented;
}

/** @param {string} selector how many lines the element's text takes */
export function textLines(selector) {
  const el = document.querySelector(selector);
  if (!el) return 0;
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}

export function scrollToTop() {
  window.scrollTo(0, 0);
}

export function scrollToBottom() {
  window.scrollTo(0, document.documentElement.scrollHeight);
}
