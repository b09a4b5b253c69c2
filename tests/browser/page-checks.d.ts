// Types of page-checks.js, whose body runs in the browser (see there).

export interface RowView {
  name: string;
  phase: string;
  state: string;
  detail: string;
  /** The detail's tooltip: the code and the engine's message behind a plain one. */
  technical: string;
  before: string;
  after: string;
  saving: string;
  worker: string;
}

export interface LayoutShift {
  value: number;
  at: number;
  nodes: string[];
}

export function readRows(): RowView[];
export function rowsInPhases(arg: [string[], number]): boolean;
export function jobEnded(): boolean;
export function jobShown(): boolean;
export function inViewport(selector: string): boolean;
export function insideHorizontally(arg: [string, string]): boolean;
export function widerThanWindow(): string[];
export function nextFrame(): Promise<void>;
export function imagesLoaded(selector: string): boolean;
export function naturalWidth(selector: string): number;
export function boxWidth(selector: string): number;
export function pageWidth(): number;
export function focusIs(selector: string): boolean;
export function dataOf(arg: [string, string]): string[];
export function unnamedControls(): string[];
export function lowContrastText(): string[];
export function recordLayoutShifts(): void;
export function layoutShifts(): LayoutShift[];
export function recordUploadConcurrency(): void;
export function uploadConcurrency(): { inFlight: number; peak: number; total: number };
export function chartHasBars(): boolean;
export function dropFiles(files: { name: string; type: string; base64: string; lastModified: number }[]): void;
export function bodyText(): string;
export function hashLeft(jobId: string): boolean;
export function leavingAsks(): boolean;
export function textLines(selector: string): number;
export function scrollToTop(): void;
export function scrollToBottom(): void;
