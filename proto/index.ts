// The imgc.v1 contract: everything generated from proto/imgc/v1 by `buf generate`.

export * from "./gen/imgc/v1/cluster_service_pb.js";
export * from "./gen/imgc/v1/job_pb.js";
export * from "./gen/imgc/v1/job_service_pb.js";
export * from "./gen/imgc/v1/options_pb.js";

// The contract's vocabulary that the messages cannot say, written once (proto/src) for every process and the
// browser: which states are final, the image formats, ids and tenants, option ranges, output file names, how sizes
// and savings read, the job report's rows and CSV, and the COCO labels of object detection (DetectionOptions.labels,
// Detection.label).
export { COCO_LABELS, type CocoLabel, isCocoLabel } from "./src/coco-labels.js";
export { detectedLabels, LABEL_SEPARATOR } from "./src/detections.js";
export {
  contentTypeOf,
  extensionOf,
  type FormatInfo,
  formatExtension,
  formatInfo,
  formatName,
  IMAGE_EXTENSIONS,
  type InputFormat,
  isOutputFormat,
  OUTPUT_FORMATS,
  type OutputFormat,
} from "./src/formats.js";
export { isJobId, isWorkerId, JOB_ID_PATTERN, WORKER_ID_RULE } from "./src/ids.js";
export { MAX_OUTPUT_PIXELS, MAX_RETENTION_DAYS, OPTION_LIMITS, SHRINK_MIN_SIDE } from "./src/option-limits.js";
export { createOutputNamer, downloadStem, type Output, outputFileName } from "./src/output-name.js";
export { formatBytes, formatExactBytes, formatSaving } from "./src/quantities.js";
export {
  CSV_COLUMNS,
  createReport,
  csvCell,
  csvHeader,
  csvRow,
  csvTotals,
  hasOutput,
  REPORT_ENTRY,
  type ReportDetection,
  type ReportRow,
  type ReportTotals,
  reportCsv,
} from "./src/report.js";
export {
  isTerminalItemState,
  isTerminalJobState,
  TERMINAL_ITEM_STATES,
  TERMINAL_JOB_STATES,
} from "./src/states.js";
export { DEFAULT_TENANT, isTenant, TENANT_HEADER, TENANT_RULE } from "./src/tenant.js";
