// The imgc.v1 contract: everything generated from proto/imgc/v1 by `buf generate`.

// Hand-written and browser-safe: the COCO labels of object detection (DetectionOptions.labels, Detection.label).
export { COCO_LABELS, type CocoLabel, isCocoLabel } from "./coco-labels.js";
export { detectedLabels, LABEL_SEPARATOR } from "./detections.js";
export * from "./gen/imgc/v1/cluster_service_pb.js";
export * from "./gen/imgc/v1/job_pb.js";
export * from "./gen/imgc/v1/job_service_pb.js";
export * from "./gen/imgc/v1/options_pb.js";
