/**
 * The web client in headless Chromium against a real cluster (NATS, S3, coordinator, two workers, gateway
 * serving a fresh build of web/): uploads through presigned slots, the live job view, comparison, downloads,
 * reconnection, cancellation, the cluster view, and the page's accessibility and layout. Screenshots go to
 * test-results/browser/.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { formatBytes, formatSaving, ImageFormat, ItemState, TaskKind } from "@imgc/proto";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../scripts/lib/local-stack.js";
import {
  allResults,
  codeOf,
  corpusFiles,
  generateImages,
  listKeys,
  testRunDir,
  uploadFixtures,
  useCluster,
  waitForJob,
} from "../harness/index.js";
import {
  bodyText,
  boxWidth,
  chartHasBars,
  dataOf,
  dropFiles,
  focusIs,
  hashLeft,
  imagesLoaded,
  insideHorizontally,
  inViewport,
  jobEnded,
  jobShown,
  layoutShifts,
  leavingAsks,
  lowContrastText,
  naturalWidth,
  nextFrame,
  pageWidth,
  type RowView,
  readRows,
  recordLayoutShifts,
  recordUploadConcurrency,
  rowsInPhases,
  scrollToBottom,
  scrollToTop,
  textLines,
  unnamedControls,
  uploadConcurrency,
  widerThanWindow,
} from "./page-checks.js";
import { zipEntries } from "./zip-entries.js";

const webDir = path.join(testRunDir(), "web");
const artifacts = path.join(repoRoot, "test-results", "browser");

// Registered before useCluster's own hook, so the gateway finds the build when it starts.
beforeAll(() => {
  execFileSync(process.execPath, [path.join(repoRoot, "node_modules/vite/bin/vite.js"), "build", "--outDir", webDir], {
    cwd: path.join(repoRoot, "web"),
    stdio: "pipe",
  });
  mkdirSync(artifacts, { recursive: true });
}, 120_000);

const cluster = useCluster({
  workers: 2,
  workerEnv: { IMGC_WORKER_SLOTS: "1" },
  env: { IMGC_WEB_DIR: webDir },
});

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors of the page, which every test expects to stay empty. */
  errors: string[];
}

async function open(hash = "", viewport = { width: 1360, height: 900 }): Promise<Opened> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.addInitScript(recordLayoutShifts);
  await context.addInitScript(recordUploadConcurrency);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(`${cluster().addresses.gatewayHttp}/${hash}`);
  await page.waitForSelector("body[data-ready]");
  return { context, page, errors };
}

/** Closes a test's page, which must have thrown no uncaught error. */
async function closeClean(context: BrowserContext, errors: string[]): Promise<void> {
  expect(errors).toEqual([]);
  await context.close();
}

function rowsOf(page: Page): Promise<RowView[]> {
  return page.evaluate(readRows);
}

const rowLocator = (page: Page, name: string) =>
  page.locator("#items tbody tr").filter({ has: page.locator(".name", { hasText: name }) });

async function waitForRows(page: Page, phases: string | string[], count: number, timeout = 15_000): Promise<void> {
  const arg: [string[], number] = [typeof phases === "string" ? [phases] : phases, count];
  await page.waitForFunction(rowsInPhases, arg, { timeout });
}

/** Waits for the job to end and returns its state as the page shows it. */
async function waitForJobEnd(page: Page, timeout = 150_000): Promise<string> {
  await page.waitForFunction(jobEnded, undefined, { timeout });
  return (await page.textContent("#job-state")) ?? "";
}

function jobIdOf(page: Page): string {
  const id = /^#\/jobs\/([A-Za-z0-9_-]+)$/.exec(new URL(page.url()).hash)?.[1];
  if (!id) throw new Error(`the page shows no job in its address: ${page.url()}`);
  return id;
}

const detectors = new WeakMap<object, Promise<unknown>>();

/** A worker that detects (the detector's model in worker/src/detect/), once per cluster: its two only compress. */
function withDetector(): Promise<unknown> {
  const c = cluster();
  if (!detectors.has(c)) detectors.set(c, c.addWorker({ IMGC_WORKER_TASKS: "detect" }));
  return detectors.get(c) as Promise<unknown>;
}

async function setOptions(page: Page, options: { format?: string; quality?: number }): Promise<void> {
  if (options.format) await page.check(`input[name="format"][value="${options.format}"]`);
  await page.check('input[name="goal"][value="quality"]');
  if (options.quality !== undefined) await page.fill("#opt-quality", String(options.quality));
}

/** Files for the picker: paths (from the corpus), or images in memory (typed as PNG unless they say otherwise). */
type Chosen = string[] | { name: string; body: Buffer; mimeType?: string }[];

/** Chooses the files in the file picker and waits until every one is listed, ready. */
async function chooseFiles(page: Page, files: Chosen): Promise<void> {
  const paths = (chosen: Chosen): chosen is string[] => chosen.every((file) => typeof file === "string");
  await page.setInputFiles(
    "#file-input",
    paths(files)
      ? files
      : files.map((file) => ({ name: file.name, mimeType: file.mimeType ?? "image/png", buffer: file.body })),
  );
  await waitForRows(page, "ready", files.length);
}

/** A fresh page with the options set and the files chosen, each listed ready: a batch waiting for Compress. */
async function openWith(files: Chosen, options?: { format?: string; quality?: number }): Promise<Opened> {
  const opened = await open();
  if (options) await setOptions(opened.page, options);
  await chooseFiles(opened.page, files);
  return opened;
}

/** A fresh page that has started a job of the files under the options (Compress clicked, nothing awaited). */
async function openAndCompress(files: Chosen, options?: { format?: string; quality?: number }): Promise<Opened> {
  const opened = await openWith(files, options);
  await opened.page.click("#compress");
  return opened;
}

async function layoutShift(page: Page): Promise<{ total: number; shifts: unknown[] }> {
  const shifts = await page.evaluate(layoutShifts);
  return { total: shifts.reduce((sum, s) => sum + s.value, 0), shifts };
}

/** The open comparison shows both images, each `width` pixels wide as decoded, and no "original missing" note. */
async function expectBothHalves(page: Page, width: number): Promise<void> {
  for (const half of ["before", "after"]) {
    await page.waitForFunction(imagesLoaded, `dialog#compare img.${half}`);
    expect(await page.evaluate(naturalWidth, `dialog#compare img.${half}`)).toBe(width);
  }
  expect(await page.isVisible("dialog#compare .missing")).toBe(false);
}

async function download(page: Page, click: () => Promise<void>): Promise<{ name: string; body: Buffer }> {
  const [file] = await Promise.all([page.waitForEvent("download", { timeout: 30_000 }), click()]);
  const failure = await file.failure();
  if (failure) throw new Error(`download of ${file.url()} failed: ${failure}`);
  return { name: file.suggestedFilename(), body: readFileSync(await file.path()) };
}

/** Shared by the tests that look at a finished job of photos. */
let photoJob: { id: string; names: string[] } | undefined;

describe("the web client, in Chromium, against a real cluster", () => {
  test("photos: dropped in, uploaded, every row reaches DONE live, with sizes, savings and workers", async () => {
    const photos = corpusFiles("photos");
    const { page, context, errors } = await openWith(photos, { format: "auto", quality: 60 });
    expect(await page.textContent("#compress")).toBe(`Compress ${photos.length} images`);
    await page.click("#compress");

    // Uploads show per file, then the job runs live.
    await page.waitForFunction(jobShown, undefined, { timeout: 60_000 });
    expect(await waitForJobEnd(page)).toBe("Completed");
    await waitForRows(page, "done", photos.length);
    const jobId = jobIdOf(page);

    const rows = await rowsOf(page);
    const results = await allResults(cluster().jobs, jobId);
    expect(results).toHaveLength(photos.length);
    for (const result of results) {
      expect(ItemState[result.state]).toBe("DONE");
      const name = path.basename(photos.find((p) => result.sourceKey.endsWith(path.basename(p))) ?? "");
      const row = rows.find((r) => r.name === name);
      expect(row, `a row for ${result.sourceKey}`).toBeDefined();
      expect(row?.state).toBe("Done");
      expect(row?.worker).toBe(result.workerId);
      expect(["worker-1", "worker-2"]).toContain(row?.worker);
      expect(row?.saving, `${name} got smaller`).toMatch(/^−\d/);
      expect(row?.detail).toContain(`${result.width}×${result.height}`);
      expect(row?.after).not.toBe("");
    }
    expect(await page.textContent("#total-images")).toBe(`${photos.length} of ${photos.length}`);
    expect(await page.textContent("#total-failed")).toBe("0");
    expect(await page.textContent("#total-saving")).toMatch(/^−\d+(\.\d)?%$/);
    expect(await page.isVisible("#download-zip")).toBe(true);
    expect(await page.isVisible("#cancel")).toBe(false);

    // Rows arrived one by one without moving what was already on screen.
    const { total, shifts } = await layoutShift(page);
    expect(total, JSON.stringify(shifts)).toBeLessThan(0.05);

    await page.screenshot({ path: path.join(artifacts, "photos-done.png"), fullPage: true });

    // Options are remembered between visits.
    await page.reload();
    await page.waitForSelector("body[data-ready]");
    expect(await page.inputValue("#opt-quality")).toBe("60");

    // Reopened from Recent jobs after the reload, the page holds no file: compare shows the cluster's original.
    await page.goto(`${cluster().addresses.gatewayHttp}/`);
    await page.waitForSelector("body[data-ready]");
    await page.click(`.recent-link[href="#/jobs/${jobId}"]`);
    await waitForRows(page, "done", photos.length);
    await rowLocator(page, "flowers-1920x1080.jpg").locator('button[data-action="compare"]').click();
    await page.locator("dialog#compare").waitFor({ state: "visible" });
    await expectBothHalves(page, 1920);
    await page.keyboard.press("Escape");

    photoJob = { id: jobId, names: photos.map((p) => path.basename(p)) };
    await closeClean(context, errors);
  });

  test("a job reopened by its address shows every result; a before/after comparison opens and zooms", async () => {
    if (!photoJob) throw new Error("needs the photos job of the first test");
    const { page, context, errors } = await open(`#/jobs/${photoJob.id}`);
    await waitForRows(page, "done", photoJob.names.length);
    expect((await rowsOf(page)).map((r) => r.name).sort()).toEqual([...photoJob.names].sort());

    await rowLocator(page, "flowers-1920x1080.jpg").locator('button[data-action="compare"]').click();
    const dialog = page.locator("dialog#compare");
    await dialog.waitFor({ state: "visible" });
    // Reopened from the server, the page no longer holds the file: the cluster's copy of the upload is shown.
    await expectBothHalves(page, 1920);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });

    // Offline, a comparison says so in words rather than "Failed to fetch" or nothing. The thumbnails put the
    // results in the browser's cache, which would hide the network: empty it first.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.clearBrowserCache");
    await context.setOffline(true);
    await rowLocator(page, "rocket.jpg").locator('button[data-action="compare"]').click();
    await page
      .locator("#compare-load-error:not([hidden]), #job-error:has-text('offline')")
      .first()
      .waitFor({ timeout: 15_000 });
    // The original, only on the cluster, cannot come: the dialog says why in words.
    if (await page.isVisible("dialog#compare")) {
      await page
        .locator("#compare-original-missing", { hasText: "You are offline: the original cannot be loaded now." })
        .waitFor({ timeout: 15_000 });
    }
    expect(await page.evaluate(bodyText)).not.toContain("Failed to fetch");
    await context.setOffline(false);
    await closeClean(context, errors);
  });

  test("with the files still in hand: slider comparison, keyboard zoom, one result downloaded", async () => {
    const files = corpusFiles("photos").filter((f) => /rocket|coffee/.test(f));
    const { page, context, errors } = await openAndCompress(files, { format: "webp", quality: 70 });
    expect(await waitForJobEnd(page)).toBe("Completed");
    const jobId = jobIdOf(page);
    const results = await allResults(cluster().jobs, jobId);

    const row = rowLocator(page, "coffee.png");
    await row.locator('button[data-action="compare"]').click();
    await page.locator("dialog#compare").waitFor({ state: "visible" });
    await page.waitForFunction(imagesLoaded, "dialog#compare img");
    expect(await page.locator("dialog#compare img").count()).toBe(2);
    expect(await page.getAttribute("dialog#compare img >> nth=0", "alt")).toBe("Original");
    expect(await page.getAttribute("dialog#compare img >> nth=1", "alt")).toBe("Compressed");
    // The divider is a range input: the keyboard moves it.
    await page.focus("#compare-split");
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowLeft");
    expect(await page.inputValue("#compare-split")).toBe("40");
    expect(await page.getAttribute("dialog#compare img.after", "style")).toContain("clip-path: inset(0px 0px 0px 40%)");
    const widthAt = () => page.evaluate(boxWidth, "dialog#compare .stage");
    const fitWidth = await widthAt();
    await page.click('dialog#compare button[aria-label="Zoom in"]');
    expect(await widthAt()).toBeCloseTo(fitWidth * 2, 0);
    await page.focus("dialog#compare .viewport");
    await page.keyboard.press("1");
    expect(await page.textContent("#compare-zoom")).toBe("100%");
    expect(await widthAt()).toBe(600);
    // Zoomed far in, the divider stays in view wherever the viewport scrolls, so the sides stay readable.
    for (let i = 0; i < 4; i++) await page.keyboard.press("+");
    expect(await page.textContent("#compare-zoom")).toBe("800%");
    const dividerInView: [string, string] = ["dialog#compare .divider", "dialog#compare .viewport"];
    expect(await page.evaluate(insideHorizontally, dividerInView)).toBe(true);
    await page.$eval("dialog#compare .viewport", (el) => {
      el.scrollLeft = el.scrollWidth;
    });
    await page.waitForFunction(insideHorizontally, dividerInView);
    await page.$eval("dialog#compare .viewport", (el) => {
      el.scrollLeft = 0;
    });
    await page.waitForFunction(insideHorizontally, dividerInView);
    // Previous/next step through the batch's results.
    expect(await page.textContent("#compare-position")).toMatch(/^\d of 2$/);
    const first = await page.textContent("#compare-title");
    const step = (await page.isEnabled("#compare-next")) ? "#compare-next" : "#compare-prev";
    await page.click(step);
    await page.locator("#compare-title", { hasText: first === "coffee.png" ? "rocket.jpg" : "coffee.png" }).waitFor();
    await page.click(step === "#compare-next" ? "#compare-prev" : "#compare-next");
    await page.locator("#compare-title", { hasText: "coffee.png" }).waitFor();
    await page.keyboard.press("1");
    await page.click('dialog#compare button:has-text("Side by side")');
    expect(await page.locator("dialog#compare .viewport").count()).toBe(2);
    expect(await page.isVisible("dialog#compare .viewport >> nth=1")).toBe(true);
    await page.screenshot({ path: path.join(artifacts, "compare.png") });
    await page.keyboard.press("Escape");

    const coffee = results.find((r) => r.sourceKey.endsWith("coffee.png"));
    const saved = await download(page, () => row.locator('button[data-action="download"]').click());
    expect(saved.name).toBe("coffee.webp");
    expect(saved.body.length).toBe(Number(coffee?.outputBytes));
    expect(saved.body.subarray(8, 12).toString("latin1")).toBe("WEBP");
    await closeClean(context, errors);
  });

  test("the whole job as a zip and its report as CSV", async () => {
    if (!photoJob) throw new Error("needs the photos job of the first test");
    const { page, context } = await open(`#/jobs/${photoJob.id}`);
    await waitForRows(page, "done", photoJob.names.length);
    const results = await allResults(cluster().jobs, photoJob.id);

    const zip = await download(page, () => page.click("#download-zip"));
    // Saved under the job's name ("flowers-1920x1080.jpg and 4 more"), not its id.
    expect(zip.name).toMatch(/^[\w.-]+ and \d+ more\.zip$/);
    const entries = zipEntries(zip.body);
    // One output per item at the top, named after its source with the output's extension; the report in a folder.
    for (const result of results) {
      const stem = path.basename(result.sourceKey).replace(/\.[^.]+$/, "");
      const name = `${stem}${path.extname(result.outputKey)}`;
      const entry = entries.find((e) => e.name === name);
      expect(entry, `${name} in ${entries.map((e) => e.name).join(", ")}`).toBeDefined();
      expect(entry?.size).toBe(Number(result.outputBytes));
    }
    expect(entries.filter((e) => e.name.includes("/")).map((e) => e.name)).toEqual(["report/report.csv"]);
    expect(entries.length - results.length).toBe(1);

    const csv = await download(page, () => page.click("#download-csv"));
    const lines = csv.body.toString("utf8").trim().split(/\r?\n/);
    expect(lines[0]?.split(",")[0], "the header names the item column first").toBe("item_id");
    // A row per item, keyed by its id in the first column (a totals row may follow).
    const firstCells = lines.slice(1).map((line) => line.split(",")[0]);
    for (const result of results)
      expect(
        firstCells.filter((id) => id === result.itemId),
        result.itemId,
      ).toHaveLength(1);
    await context.close();
  });

  test("a job with bad files: refused before upload, or failed alone with its error while the rest finish", async () => {
    const { page, context, errors } = await open();
    await setOptions(page, { format: "auto", quality: 75 });
    const good = corpusFiles("photos").filter((f) => /rocket|coffee|flowers/.test(f));
    const bad = corpusFiles("bad");
    await page.setInputFiles("#file-input", [...good, ...bad]);
    // The font is not an image: refused on the spot, never uploaded.
    await waitForRows(page, "refused", 1);
    const font = (await rowsOf(page)).find((r) => r.name === "font-not-an-image.ttf");
    expect(font?.state).toBe("Refused");
    expect(font?.detail).toMatch(/^Not an image/);
    expect(await page.textContent("#compress")).toBe("Compress 5 images");

    await page.click("#compress");
    expect(await waitForJobEnd(page)).toBe("Completed with errors");
    const rows = await rowsOf(page);
    for (const name of ["corrupt-header.jpg", "truncated.png"]) {
      const row = rows.find((r) => r.name === name);
      expect(row?.phase, name).toBe("failed");
      expect(row?.state).toBe("Failed");
      // Words for people on the row, the code and the engine's message in its tooltip.
      expect(row?.detail, name).toMatch(
        /^This (JPEG|PNG|image) is damaged; export it again\.$|^This file is not an image/,
      );
      expect(row?.technical, name).toMatch(/^(CORRUPT_INPUT|UNSUPPORTED_FORMAT): \S.{4,}/);
    }
    for (const file of good) expect(rows.find((r) => r.name === path.basename(file))?.phase).toBe("done");
    expect(await page.textContent("#total-images")).toBe("5 of 5");
    // Failed counts what failed on the cluster; the font refused before upload is counted apart.
    expect(await page.textContent("#total-failed")).toBe("2");
    expect(await page.textContent("#total-refused")).toBe("1");
    await page.screenshot({ path: path.join(artifacts, "bad-files.png"), fullPage: true });

    // Every kind of row is on screen now: check contrast in both colour schemes.
    expect(await page.evaluate(lowContrastText)).toEqual([]);
    // Reduced motion too, so that colours are read after the switch rather than mid-transition.
    await page.emulateMedia({ colorScheme: "dark", reducedMotion: "reduce" });
    expect(await page.evaluate(lowContrastText)).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, "bad-files-dark.png"), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });

    // Down to a phone's width: rows become cards, nothing overflows sideways.
    await page.setViewportSize({ width: 375, height: 812 });
    expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: path.join(artifacts, "bad-files-phone.png"), fullPage: true });
    await closeClean(context, errors);
  });

  test("the event stream survives a network loss: it resumes after the last sequence, losing nothing", async () => {
    const images = await generateImages(10, { minSide: 500, maxSide: 700, seed: 7 });
    const { page, context, errors } = await openWith(images, { format: "avif", quality: 50 });
    const watches: { afterSequence: number }[] = [];
    page.on("request", (request) => {
      if (!request.url().endsWith("/imgc.v1.JobService/WatchJob")) return;
      // A Connect streaming request: a 5-byte envelope prefix, then the JSON message.
      const body = JSON.parse(request.postDataBuffer()?.subarray(5).toString("utf8") ?? "{}") as {
        afterSequence?: string;
      };
      watches.push({ afterSequence: Number(body.afterSequence ?? 0) });
    });
    await page.click("#compress");
    await page.waitForSelector('#items tbody tr[data-phase="done"]', { timeout: 120_000 });

    await context.setOffline(true);
    const doneWhenCut = (await rowsOf(page)).filter((r) => r.phase === "done").length;
    expect(doneWhenCut, "the job must still be running when the network goes").toBeLessThan(images.length);
    await page.locator("#job-connection", { hasText: /Offline|reconnecting/ }).waitFor();
    await page.screenshot({ path: path.join(artifacts, "offline.png") });
    await page.waitForTimeout(3000);
    await context.setOffline(false);

    expect(await waitForJobEnd(page)).toBe("Completed");
    await waitForRows(page, "done", images.length);
    expect(await page.textContent("#total-images")).toBe(`${images.length} of ${images.length}`);
    expect(await page.textContent("#job-connection")).toBe("");
    expect(watches.length).toBeGreaterThanOrEqual(2);
    expect(watches[0]?.afterSequence).toBe(0);
    expect(watches.at(-1)?.afterSequence, "the resumed stream starts after the last event seen").toBeGreaterThan(0);
    await closeClean(context, errors);
  });

  test("cancel: the job ends CANCELLED, finished images keep their results, the rest say Cancelled", async () => {
    const images = await generateImages(20, { minSide: 600, maxSide: 900, seed: 11 });
    const { page, context, errors } = await openAndCompress(images, { format: "avif", quality: 50 });
    await page.waitForSelector("#cancel:has-text('Cancel job')", { timeout: 60_000 });
    await page.click("#cancel");
    expect(await waitForJobEnd(page)).toBe("Cancelled");
    await waitForRows(page, ["done", "kept", "failed"], images.length, 30_000);
    const rows = await rowsOf(page);
    const cancelled = rows.filter((r) => r.state === "Cancelled");
    expect(cancelled.length).toBeGreaterThan(0);
    for (const row of cancelled) {
      expect(row.detail).toBe("Cancelled before it was compressed.");
      expect(row.technical).toMatch(/^CANCELLED: /);
    }
    expect(await page.isVisible("#cancel")).toBe(false);
    await closeClean(context, errors);
  });

  test("hundreds of files in one drop: 200 rows, uploaded four at a time, every one DONE", async () => {
    const images = await generateImages(200, { minSide: 48, maxSide: 128, seed: 3 });
    const { page, context, errors } = await openWith(images, { format: "webp", quality: 75 });
    const started = Date.now();
    await page.click("#compress");
    // Once a few images finished, the time shows an estimate of what is left, from the pace so far.
    await page.locator("#total-time", { hasText: /^\d+:\d\d · ~\d+:\d\d$/ }).waitFor({ timeout: 120_000 });
    expect(await waitForJobEnd(page, 170_000)).toBe("Completed");
    await waitForRows(page, ["done", "kept"], images.length);
    const uploads = await page.evaluate(uploadConcurrency);
    console.log(
      `200 images through the page: ${((Date.now() - started) / 1000).toFixed(1)} s, ${uploads.peak} PUTs at once`,
    );
    expect(uploads.total).toBe(images.length);
    expect(uploads.peak).toBe(4);
    expect(await page.textContent("#total-images")).toBe("200 of 200");
    // At the end of 200 rows, the totals and Download all are still on screen.
    await page.evaluate(scrollToBottom);
    expect(await page.evaluate(inViewport, "#total-images")).toBe(true);
    expect(await page.evaluate(inViewport, "#download-zip")).toBe(true);
    const { total, shifts } = await layoutShift(page);
    expect(total, JSON.stringify(shifts.slice(0, 5))).toBeLessThan(0.05);
    await closeClean(context, errors);
  }, 240_000);

  test("the cluster view follows a running job live: workers busy, chunks in flight, throughput drawn", async () => {
    const c = cluster();
    const { page, context, errors } = await open("#/cluster");
    const res = await fetch(`${c.addresses.gatewayHttp}/v1/cluster`);
    if (res.status === 404) {
      // The gateway has no cluster route: the panel must say so rather than show nothing.
      await page.waitForSelector("#cluster-unavailable:not([hidden])");
      expect(await page.textContent("#cluster-unavailable")).toContain("Cluster data unavailable");
      await context.close();
      return;
    }
    await page.locator("#workers tbody tr >> nth=1").waitFor({ timeout: 10_000 });
    expect(await page.evaluate(dataOf, ["#workers tbody tr", "worker"] as [string, string])).toEqual([
      "worker-1",
      "worker-2",
    ]);
    expect(await page.evaluate(dataOf, ["#lanes tbody tr", "lane"] as [string, string])).toEqual([
      "High",
      "Normal",
      "Low",
    ]);

    // A job submitted behind the page's back (as another client would) shows up in the view as it runs.
    const { uploads } = await uploadFixtures(
      c.storage,
      await generateImages(12, { minSide: 300, maxSide: 450, seed: 5 }),
    );
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((u) => ({ kind: { case: "uploadKey" as const, value: u.key } })),
      options: { format: ImageFormat.AVIF },
    });
    if (!job) throw new Error("SubmitJob returned no job");
    await page.locator("#stat-slots", { hasText: /^[12] \/ 2$/ }).waitFor({ timeout: 30_000 });
    await page.locator("#workers .chunks", { hasText: job.id }).first().waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(artifacts, "cluster-busy.png"), fullPage: true });
    await waitForJob(c.jobs, job.id, { timeoutMs: 150_000 });
    // Finished images appear as throughput: some bar of the chart has height, the rate is above zero.
    await page.waitForFunction(chartHasBars, undefined, { timeout: 10_000 });
    await page.screenshot({ path: path.join(artifacts, "cluster.png"), fullPage: true });
    await closeClean(context, errors);
  });

  test("files dropped anywhere on the page are listed and checked; the same file dropped again is listed once", async () => {
    const { page, context, errors } = await open();
    const asDropped = (files: string[]) =>
      files.map((file) => ({
        name: path.basename(file),
        type: "",
        base64: readFileSync(file).toString("base64"),
        lastModified: Math.floor(statSync(file).mtimeMs),
      }));
    await page.evaluate(dropFiles, asDropped(corpusFiles("photos").filter((f) => /rocket|flowers/.test(f))));
    await waitForRows(page, "ready", 2);
    await page.evaluate(dropFiles, asDropped(corpusFiles("bad").filter((f) => /font/.test(f))));
    await waitForRows(page, "refused", 1);
    expect((await rowsOf(page)).map((r) => r.name)).toEqual([
      "flowers-1920x1080.jpg",
      "rocket.jpg",
      "font-not-an-image.ttf",
    ]);
    expect(await page.textContent("#compress")).toBe("Compress 2 images");
    // The same file (name, size, modification time) dropped twice is listed once.
    await page.evaluate(dropFiles, asDropped(corpusFiles("photos").filter((f) => /rocket/.test(f))));
    await page.waitForTimeout(300);
    expect(await page.locator("#items tbody tr").count()).toBe(3);
    await closeClean(context, errors);
  });

  test("keyboard only: reach the picker, choose files, start the job; every control has a name", async () => {
    const { page, context, errors } = await open();
    expect(await page.evaluate(unnamedControls)).toEqual([]);

    const focusBy = async (target: string, presses = 60) => {
      for (let i = 0; i < presses; i++) {
        await page.keyboard.press("Tab");
        if (await page.evaluate(focusIs, target)) return;
      }
      throw new Error(`Tab never reached ${target}`);
    };
    // Listening before the key press: Playwright intercepts the chooser only once someone waits for it.
    const chooserOpened = page.waitForEvent("filechooser");
    await focusBy("#pick-files");
    await page.keyboard.press("Enter");
    const chooser = await chooserOpened;
    await chooser.setFiles(corpusFiles("photos").filter((f) => /rocket/.test(f)));
    await waitForRows(page, "ready", 1);
    // The options come before the list in the tab order; the quality slider moves with the arrow keys.
    await focusBy("#opt-quality");
    const before = Number(await page.inputValue("#opt-quality"));
    await page.keyboard.press("ArrowRight");
    expect(Number(await page.inputValue("#opt-quality"))).toBe(before + 1);
    await focusBy("#compress");
    expect(await page.evaluate(unnamedControls)).toEqual([]);
    await page.keyboard.press("Enter");
    expect(await waitForJobEnd(page)).toBe("Completed");
    expect(await page.evaluate(unnamedControls)).toEqual([]);
    await closeClean(context, errors);
  });
  test("done, kept and failed in one job: totals over results only, filters, sort, rename, re-run without uploading, remove", async () => {
    // A coarse JPEG made bigger by quality 100 is kept; a PNG photo gets smaller; a truncated PNG fails.
    const [seed] = await generateImages(1, { minSide: 200, maxSide: 240, seed: 21 });
    if (!seed) throw new Error("no generated image");
    const coarse = await sharp(seed.body).jpeg({ quality: 10 }).toBuffer();
    const coffee = corpusFiles("photos").find((f) => f.endsWith("coffee.png")) as string;
    const truncated = corpusFiles("bad").find((f) => f.endsWith("truncated.png")) as string;
    const asFile = (file: string) => ({ name: path.basename(file), body: readFileSync(file) });
    const { page, context, errors } = await openAndCompress(
      [asFile(coffee), asFile(truncated), { name: "coarse.jpg", mimeType: "image/jpeg", body: coarse }],
      { format: "jpeg", quality: 100 },
    );
    expect(await waitForJobEnd(page)).toBe("Completed with errors");
    const jobId = jobIdOf(page);
    const rows = await rowsOf(page);
    expect(rows.find((r) => r.name === "coffee.png")?.phase).toBe("done");
    const kept = rows.find((r) => r.name === "coarse.jpg");
    expect(kept?.phase).toBe("kept");
    expect(kept?.detail).toMatch(
      /^Original kept: already as small as it gets \(\d[\d.]* KB; the best JPEG was \d[\d.]* (KB|bytes?) larger\)\.$/,
    );
    const failed = rows.find((r) => r.name === "truncated.png");
    expect(failed?.detail).toBe("This PNG is damaged; export it again.");
    expect(failed?.technical).toMatch(/^CORRUPT_INPUT: /);

    // Totals: sizes and the saving over the two images with a result; the failed one is in neither.
    const results = await allResults(cluster().jobs, jobId);
    const withOutput = results.filter((r) => r.state === ItemState.DONE || r.state === ItemState.KEPT_ORIGINAL);
    const before = withOutput.reduce((sum, r) => sum + Number(r.inputBytes), 0);
    const after = withOutput.reduce(
      (sum, r) => sum + Number(r.state === ItemState.KEPT_ORIGINAL ? r.inputBytes : r.outputBytes),
      0,
    );
    expect(await page.textContent("#total-images")).toBe("3 of 3");
    expect(await page.textContent("#total-failed")).toBe("1");
    expect(await page.textContent("#total-before")).toBe(formatBytes(before));
    expect(await page.textContent("#total-after")).toBe(formatBytes(after));
    expect(await page.textContent("#total-saving")).toBe(formatSaving(before, after));

    // The README's picture of the job view: thumbnails, each kind of outcome, the totals.
    await page.setViewportSize({ width: 1440, height: 1130 });
    await page.waitForFunction(imagesLoaded, "#items img.thumb:not(.broken)");
    await page.screenshot({ path: path.join(artifacts, "job-view.png") });

    // Filters and sort.
    await page.click('button[data-filter="failed"]');
    expect((await rowsOf(page)).map((r) => r.name)).toEqual(["truncated.png"]);
    await page.click('button[data-filter="kept"]');
    expect((await rowsOf(page)).map((r) => r.name)).toEqual(["coarse.jpg"]);
    await page.click('button[data-filter="all"]');
    await page.selectOption("#sort", "name");
    expect((await rowsOf(page)).map((r) => r.name)).toEqual(["coarse.jpg", "coffee.png", "truncated.png"]);
    await page.selectOption("#sort", "size");
    const sizes = (await rowsOf(page)).map((r) => r.name);
    expect(sizes[0]).toBe("coffee.png");

    // The job is named after its files, and can be renamed; downloads take the name.
    expect(await page.textContent("#job-title")).toBe("coffee.png and 2 more");
    await page.click("#job-rename");
    await page.fill("#job-label", "Café photos");
    await page.press("#job-label", "Enter");
    // The title changes once the page has taken the name (it is saved with the job first).
    await page.locator("#job-title", { hasText: "Café photos" }).waitFor();
    expect(await page.textContent("#job-title")).toBe("Café photos");
    expect(await page.getAttribute("#download-zip", "download")).toBe("Cafe photos.zip");
    await page.locator(".recent-label", { hasText: "Café photos" }).waitFor();

    // Re-tune without re-uploading: new options, all three again, as a new job linked to this one.
    const putsBefore = (await page.evaluate(uploadConcurrency)).total;
    await page.check('input[name="format"][value="webp"]');
    await page.fill("#opt-quality", "50");
    await page.click("#rerun-all");
    await page.waitForFunction(hashLeft, jobId);
    const rerunId = jobIdOf(page);
    expect(await waitForJobEnd(page)).toMatch(/^Completed/);
    expect((await page.evaluate(uploadConcurrency)).total, "nothing uploaded again").toBe(putsBefore);
    expect(await page.textContent("#job-parent")).toBe("Re-run of Café photos");
    expect(await page.getAttribute("#job-parent a", "href")).toBe(`#/jobs/${jobId}`);
    const rerun = await allResults(cluster().jobs, rerunId);
    expect(rerun.map((r) => r.sourceKey).sort()).toEqual(results.map((r) => r.sourceKey).sort());
    expect(rerun.find((r) => r.sourceKey.endsWith("coffee.png"))?.format).toBe(ImageFormat.WEBP);

    // Remove takes a row off the list, and the totals follow.
    await rowLocator(page, "truncated.png").locator('button[data-action="remove"]').click();
    await waitForRows(page, ["done", "kept"], 2);
    // The list changes at once and the summary in the next frame, before anything is painted.
    await page.evaluate(nextFrame);
    expect(await page.locator("#items tbody tr").count()).toBe(2);
    expect(await page.textContent("#total-images")).toBe("2 of 2");
    expect(await page.textContent("#total-failed")).toBe("0");

    // Dark mode and a phone: readable, nothing sideways.
    await page.emulateMedia({ colorScheme: "dark", reducedMotion: "reduce" });
    expect(await page.evaluate(lowContrastText)).toEqual([]);
    await page.setViewportSize({ width: 375, height: 812 });
    expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: path.join(artifacts, "rerun-phone-dark.png"), fullPage: true });
    await closeClean(context, errors);
  });

  test("a size goal that cannot be met reads in KB; Retry with… runs the same original again with other options", async () => {
    const { page, context, errors } = await open();
    await page.check('input[name="format"][value="webp"]');
    await page.check('input[name="goal"][value="max-size"]');
    // On by default, it would make the image small enough to fit: this is about a goal that is not met.
    expect(await page.isChecked("#opt-shrink")).toBe(true);
    await page.uncheck("#opt-shrink");
    await page.fill("#opt-max-kb", "1");
    const [noisy] = await generateImages(1, { minSide: 500, maxSide: 520, seed: 5 });
    if (!noisy) throw new Error("no generated image");
    await chooseFiles(page, [noisy]);
    await page.click("#compress");
    await waitForJobEnd(page);
    const [row] = await rowsOf(page);
    expect(row?.phase).toBe("failed");
    expect(row?.detail).toMatch(
      /^Even the smallest WebP \([\d.]+ KB\) is over the 1 KB limit: raise the limit, or set smaller dimensions\.$/,
    );
    expect(row?.technical).toMatch(/^INVALID_OPTIONS: The smallest WebP output is \d+ bytes/);
    // Every image failed: nothing was made, so no sizes and no saving (not "After 0 bytes, Saved −100%").
    expect(await page.textContent("#total-failed")).toBe("1");
    expect(await page.textContent("#total-before")).toBe("—");
    expect(await page.textContent("#total-after")).toBe("—");
    expect(await page.textContent("#total-saving")).toBe("—");

    const failedJob = jobIdOf(page);
    await page.locator('#items button[data-action="retry-with"]').click();
    await page.check('input[name="goal"][value="quality"]');
    await page.click("#rerun-selected");
    await page.waitForFunction(hashLeft, failedJob);
    expect(await waitForJobEnd(page)).toBe("Completed");
    await waitForRows(page, "done", 1);
    expect(await page.isVisible("#job-parent")).toBe(true);
    await closeClean(context, errors);
  });

  test("Retry failed runs the failed image again on the cluster; Delete job asks, then removes the job and its data", async () => {
    const coffee = corpusFiles("photos").find((f) => f.endsWith("coffee.png")) as string;
    const truncated = corpusFiles("bad").find((f) => f.endsWith("truncated.png")) as string;
    const { page, context, errors } = await openAndCompress([coffee, truncated]);
    expect(await waitForJobEnd(page)).toBe("Completed with errors");
    const jobId = jobIdOf(page);
    expect(await page.textContent("#retry-failed")).toBe("Retry 1 failed");

    await page.click("#retry-failed");
    await page.waitForFunction(hashLeft, jobId);
    const retryId = jobIdOf(page);
    const { job: retry } = await cluster().jobs.getJob({ jobId: retryId });
    expect(retry?.retryOf).toBe(jobId);
    expect(await waitForJobEnd(page)).toBe("Failed");
    expect((await rowsOf(page)).map((r) => r.name)).toEqual(["truncated.png"]);
    expect(await page.textContent("#job-parent")).toMatch(/^Re-run of /);
    const recentIds = () =>
      page.$$eval(".recent-link", (links) => links.map((a) => a.getAttribute("href")?.replace("#/jobs/", "")));
    expect(await recentIds()).toContain(retryId);

    // Dismissing the confirmation deletes nothing.
    page.once("dialog", (dialog) => void dialog.dismiss());
    await page.click("#delete-job");
    expect((await cluster().jobs.getJob({ jobId: retryId })).job?.id).toBe(retryId);
    // Accepting it deletes the job; the page goes back to an empty batch and the job leaves the recent list.
    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await page.click("#delete-job");
    await page.locator(`.recent-link[href="#/jobs/${retryId}"]`).waitFor({ state: "detached" });
    expect(asked).toMatch(/^Delete this job for good\?/);
    expect(new URL(page.url()).hash).toBe("#/");
    expect(await recentIds()).toContain(jobId);
    expect(await codeOf(cluster().jobs.getJob({ jobId: retryId }))).toBe(Code.NotFound);
    expect(await listKeys(cluster().storage, `reports/default/${retryId}.`)).toEqual([]);
    expect(await page.isVisible("#delete-job")).toBe(false);
    await closeClean(context, errors);
  });

  test("files dropped while a job runs wait for a yes; leaving mid-upload asks first", async () => {
    const { page, context, errors } = await open();
    await setOptions(page, { format: "avif", quality: 50 });
    const images = await generateImages(6, { minSide: 500, maxSide: 700, seed: 13 });
    const leaving = () => page.evaluate(leavingAsks);

    // Uploads held at the storage until the test lets them go: the page is mid-upload for as long as needed.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(
      (url) => url.port === new URL(cluster().addresses.s3).port,
      async (route) => {
        if (route.request().method() === "PUT") await held;
        await route.continue();
      },
    );
    await chooseFiles(page, images);
    expect(await leaving()).toBe(false);
    await page.click("#compress");
    await page.locator("#job-title", { hasText: /^Uploading/ }).waitFor();
    expect(await leaving(), "a reload now would lose the upload").toBe(true);
    release();
    await page.waitForSelector("#cancel:has-text('Cancel job')", { timeout: 60_000 });
    expect(await leaving()).toBe(false);
    const jobId = jobIdOf(page);
    const title = await page.textContent("#job-title");

    const drop = [path.join(corpusFiles("photos").find((f) => f.endsWith("rocket.jpg")) as string)];
    await page.setInputFiles("#file-input", drop);
    await page.locator("#pending-files:not([hidden])").waitFor();
    expect(await page.textContent("#pending-files")).toContain("1 new file dropped");
    expect(await page.textContent("#job-title")).toBe(title);
    await page.click("#pending-discard");
    await page.locator("#pending-files").waitFor({ state: "hidden" });
    expect(jobIdOf(page)).toBe(jobId);

    await page.setInputFiles("#file-input", drop);
    await page.click("#pending-accept");
    await waitForRows(page, "ready", 1);
    expect(await page.textContent("#compress")).toBe("Compress 1 image");
    await page.locator(`.recent-link[href="#/jobs/${jobId}"]`).waitFor();
    await closeClean(context, errors);
  });

  test("on a 375 px phone: the Compress button comes into view, one-line API key, no drop wording, cluster tables fit", async () => {
    const { page, context, errors } = await open("", { width: 375, height: 700 });
    expect(await page.isVisible(".drop-title")).toBe(false);
    expect(await page.evaluate(textLines, "#api-key-open"), "API key on one line").toBe(1);
    // An impossible value gets a message, not only a red border.
    await page.check('input[name="goal"][value="max-size"]');
    await page.fill("#opt-max-kb", "0");
    await page.locator("#opt-max-kb-error:not([hidden])").waitFor();
    expect(await page.textContent("#opt-max-kb-error")).toMatch(/^Expected a whole number between 1 and 1000000/);
    await page.fill("#opt-max-kb", "250");
    await page.locator("#opt-max-kb-error").waitFor({ state: "hidden" });
    await page.check('input[name="format"][value="jpeg"]');
    await page.check('input[name="goal"][value="lossless"]');
    expect(await page.textContent("#opt-lossless-hint")).toMatch(/^JPEG has no lossless mode/);
    await page.check('input[name="format"][value="auto"]');
    await page.check('input[name="goal"][value="quality"]');

    await page.evaluate(scrollToTop);
    await page.setInputFiles(
      "#file-input",
      corpusFiles("photos").filter((f) => /rocket/.test(f)),
    );
    await waitForRows(page, "ready", 1);
    await page.waitForFunction(inViewport, "#compress");
    await page.screenshot({ path: path.join(artifacts, "phone-chosen.png") });

    await page.goto(`${cluster().addresses.gatewayHttp}/#/cluster`);
    await page.waitForSelector("body[data-ready]");
    const served = (await fetch(`${cluster().addresses.gatewayHttp}/v1/cluster`)).status !== 404;
    if (served) await page.locator("#workers tbody tr >> nth=1").waitFor({ timeout: 10_000 });
    expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(375);
    expect(await page.evaluate(widerThanWindow)).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, "cluster-phone.png"), fullPage: true });
    await closeClean(context, errors);
  });

  test("a running image says where and for how long", async () => {
    const images = await generateImages(8, { minSide: 600, maxSide: 800, seed: 17 });
    const { page, context, errors } = await openAndCompress(images, { format: "avif", quality: 50 });
    await page.waitForSelector('#items tbody tr[data-phase="running"]', { timeout: 60_000 });
    const running = (await rowsOf(page)).filter((r) => r.phase === "running");
    expect(running.length).toBeGreaterThan(0);
    expect(running.length, "two workers with one slot each").toBeLessThanOrEqual(2);
    for (const row of running) {
      expect(row.state).toBe("Compressing");
      expect(row.detail).toMatch(/^On worker-[12] · \d+:\d\d$/);
    }
    expect(await waitForJobEnd(page)).toBe("Completed");
    await closeClean(context, errors);
  });

  test("Detect objects: each row lists what was found, a filter by label, boxes over both images when compared", async () => {
    await withDetector();
    const { page, context, errors } = await open();
    await setOptions(page, { format: "webp", quality: 70 });
    await page.check('input[name="work"][value="compress-detect"]');
    await page.setInputFiles(
      "#file-input",
      corpusFiles("photos").filter((f) => /motorcycle_left|coffee/.test(f)),
    );
    await waitForRows(page, "ready", 2);
    await page.click("#compress");
    expect(await waitForJobEnd(page)).toBe("Completed");

    const coffee = rowLocator(page, "coffee.png");
    const bike = rowLocator(page, "motorcycle_left.png");
    expect(await coffee.locator(".labels .label-chip").allTextContents()).toContain("cup");
    expect(await bike.locator(".labels .label-chip").allTextContents()).toContain("motorcycle");
    // The filter offers the labels found; picking one leaves the rows that hold it.
    await page.locator("#label-filter").selectOption("motorcycle");
    await expect.poll(() => page.locator("#items tbody tr").count()).toBe(1);
    expect(await page.locator("#items tbody tr .name").allTextContents()).toEqual(["motorcycle_left.png"]);
    await page.locator("#label-filter").selectOption("");
    await expect.poll(() => page.locator("#items tbody tr").count()).toBe(2);

    await coffee.locator('button[data-action="compare"]').click();
    await page.locator("dialog#compare").waitFor({ state: "visible" });
    await page.waitForFunction(imagesLoaded, "dialog#compare img");
    const labels = (side: string) =>
      page.locator(`dialog#compare .boxes[data-side="${side}"] .box-label`).allTextContents();
    expect((await labels("source")).some((text) => /^cup \d+%$/.test(text))).toBe(true);
    expect((await labels("output")).some((text) => /^cup \d+%$/.test(text))).toBe(true);
    await page.screenshot({ path: path.join(artifacts, "detect-compare.png") });
    await closeClean(context, errors);
  });

  test("Detect only: the objects asked for, listed per image, and no compressed file", async () => {
    await withDetector();
    const { page, context, errors } = await open();
    await page.check('input[name="work"][value="detect"]');
    // The compression options do not apply to this job: they are out of the way.
    expect(await page.isHidden(".options .compression")).toBe(true);
    await page.fill("#opt-labels", "cup, unicorn");
    expect(await page.textContent("#opt-labels-error")).toContain('but received "unicorn"');
    await page.fill("#opt-labels", "Cup");
    expect(await page.isHidden("#opt-labels-error")).toBe(true);
    await page.fill("#opt-max-objects", "3");
    await page.setInputFiles(
      "#file-input",
      corpusFiles("photos").filter((f) => /motorcycle_left|coffee/.test(f)),
    );
    await waitForRows(page, "ready", 2);
    expect(await page.textContent("#compress")).toBe("Detect objects in 2 images");
    await page.click("#compress");
    expect(await waitForJobEnd(page)).toBe("Completed");

    const coffee = rowLocator(page, "coffee.png");
    const bike = rowLocator(page, "motorcycle_left.png");
    expect(await coffee.locator(".labels .label-chip").allTextContents()).toEqual(["cup"]);
    // Only cups were asked for: the motorcycle is not listed.
    expect(await bike.locator(".labels .label-chip").allTextContents()).toEqual([]);
    // Nothing was compressed: nothing to compare or download.
    expect(await coffee.locator('button[data-action="compare"]').isHidden()).toBe(true);
    expect(await coffee.locator('button[data-action="download"]').isHidden()).toBe(true);

    // What the page asked for is what the job holds.
    const jobId = jobIdOf(page);
    const { job } = await cluster().jobs.getJob({ jobId });
    expect(job?.tasks).toEqual([TaskKind.DETECT]);
    expect(job?.detection).toMatchObject({ labels: ["cup"], maxObjects: 3, minScore: 0.5 });
    const results = await allResults(cluster().jobs, jobId);
    expect(results.map((r) => r.outputKey)).toEqual(["", ""]);
    for (const r of results) {
      expect((r.detection?.objects ?? []).every((o) => o.label === "cup")).toBe(true);
      expect(r.detection?.objects.length ?? 0).toBeLessThanOrEqual(3);
    }
    await closeClean(context, errors);
  });
});
