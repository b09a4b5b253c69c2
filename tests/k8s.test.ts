/**
 * deploy/k8s cannot be applied here (no cluster), so its shape is checked against what the services expect:
 * documented IMGC_* variables only, probes on each service's own health port, a worker grace period longer
 * than its drain, KEDA scaling on the coordinators' backlog, and three coordinators.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { LANES, TASKS_STREAM, taskConsumer, taskKindOf } from "@imgc/common";
import { TaskKind } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { BACKLOG_FIELD, BACKLOG_PATH } from "../coordinator/src/scheduler/backlog.js";
import { repoRoot } from "../scripts/lib/local-stack.js";

interface Container {
  name: string;
  image?: string;
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    template?: {
      spec: {
        containers: Container[];
        terminationGracePeriodSeconds?: number;
        automountServiceAccountToken?: boolean;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        volumes?: { name: string; emptyDir?: object }[];
      };
    };
    podSelector?: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: { ports?: { port: number }[] }[];
    triggers?: { type: string; metadata: Record<string, string> }[];
    scaleTargetRef?: { name: string };
  };
}

const dir = path.join(repoRoot, "deploy", "k8s");
const manifests: Manifest[] = readdirSync(dir)
  .filter((file) => file.endsWith(".yaml"))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(dir, file), "utf8")).map((doc) => doc.toJS() as Manifest),
  );
const documented = new Set(readFileSync(path.join(repoRoot, "docs", "protocol.md"), "utf8").match(/IMGC_[A-Z0-9_]+/g));

function workload(name: string): Container {
  const found = manifests.find((m) => m.kind === "Deployment" && m.metadata.name === name);
  const container = found?.spec?.template?.spec.containers[0];
  if (!container) throw new Error(`deploy/k8s has no Deployment ${name}`);
  return container;
}
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

describe("deploy/k8s", () => {
  test("has deployments for the coordinator, the workers, the detectors and the gateway, and NATS and MinIO", () => {
    for (const name of ["coordinator", "worker", "detector", "gateway"]) expect(workload(name).name).toBe(name);
    expect(
      manifests
        .filter((m) => m.kind === "StatefulSet")
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(["minio", "nats"]);
  });

  test("uses only the IMGC_* variables docs/protocol.md documents", () => {
    const used = manifests.flatMap((m) => [
      ...Object.keys(m.data ?? {}),
      ...(m.spec?.template?.spec.containers ?? []).flatMap((c) => (c.env ?? []).map((e) => e.name)),
    ]);
    for (const name of used.filter((n) => n.startsWith("IMGC_"))) expect(documented.has(name), name).toBe(true);
  });

  test.each([
    ["coordinator", "IMGC_COORDINATOR_HTTP_PORT"],
    ["worker", "IMGC_WORKER_HTTP_PORT"],
    ["detector", "IMGC_WORKER_HTTP_PORT"],
    ["gateway", "IMGC_GATEWAY_PORT"],
  ])("%s is probed on /readyz and /healthz of the port %s names", (name, variable) => {
    const container = workload(name);
    const port = container.ports?.find((p) => p.name === "http")?.containerPort;
    expect(String(port)).toBe(envOf(container)[variable]);
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
  });

  test.each(["worker", "detector"])(
    "%s pods listen for probes beyond loopback and get longer to stop than their drain takes",
    (name) => {
      const worker = workload(name);
      expect(envOf(worker).IMGC_WORKER_HTTP_HOST).toBe("0.0.0.0");
      const drainS = Number(envOf(worker).IMGC_DRAIN_TIMEOUT_MS) / 1000;
      const grace = manifests.find((m) => m.metadata.name === name && m.kind === "Deployment")?.spec?.template?.spec
        .terminationGracePeriodSeconds;
      expect(grace).toBeGreaterThan(drainS);
    },
  );

  test("detectors run the detector image, pull DETECT chunks only, and act under their own pool token", () => {
    const detector = workload("detector");
    expect(detector.image).toMatch(/^imgc\/detector:/);
    expect(envOf(detector).IMGC_WORKER_TASKS).toBe("detect");
    const token = (detector.env ?? []).find((e) => e.name === "IMGC_AUTH_TOKEN") as
      | { valueFrom?: { secretKeyRef?: { key: string } } }
      | undefined;
    expect(token?.valueFrom?.secretKeyRef?.key).toBe("detector.token");
    // The compression workers neither detect nor carry the model.
    expect(envOf(workload("worker")).IMGC_WORKER_TASKS).toBeUndefined();
    expect(workload("worker").image).toMatch(/^imgc\/worker:/);
  });

  test("KEDA scales the detectors on every detect consumer's lag and the DETECT backlog, from zero", () => {
    const scaled = manifests.find((m) => m.kind === "ScaledObject" && m.metadata.name === "detector");
    expect(scaled?.spec?.scaleTargetRef?.name).toBe("detector");
    expect((scaled?.spec as { minReplicaCount?: number } | undefined)?.minReplicaCount).toBe(0);
    const all = scaled?.spec?.triggers ?? [];
    const triggers = all.filter((t) => t.type === "nats-jetstream");
    expect(triggers.map((t) => t.metadata.consumer)).toEqual(
      LANES.map((lane) => taskConsumer(lane.name, TaskKind.DETECT)),
    );
    // The held-back DETECT chunks too: the coordinators' backlog of that kind alone, with the workers' token.
    const backlog = all.filter((t) => t.type === "metrics-api");
    expect(backlog).toHaveLength(1);
    const url = new URL(backlog[0]?.metadata.url ?? "");
    expect([url.hostname.split(".")[0], url.port, url.pathname]).toEqual([
      "coordinator",
      "9464",
      `${BACKLOG_PATH}/${taskKindOf(TaskKind.DETECT).name}`,
    ]);
    expect(backlog[0]?.metadata.valueLocation).toBe(BACKLOG_FIELD);
    expect((backlog[0] as { authenticationRef?: { name: string } }).authenticationRef?.name).toBe(
      "coordinator-backlog",
    );
    for (const trigger of triggers) {
      expect(trigger.metadata.stream).toBe(TASKS_STREAM);
      expect(trigger.metadata.natsServerMonitoringEndpoint).toMatch(/^nats\.imgc\.svc\.cluster\.local:8222$/);
      expect(Number(trigger.metadata.lagThreshold)).toBeGreaterThan(0);
    }
  });

  test("ships no secret: the operator creates imgc-s3, imgc-api-keys and imgc-operator-key", () => {
    expect(manifests.filter((m) => m.kind === "Secret")).toEqual([]);
    const text = readdirSync(dir)
      .map((file) => readFileSync(path.join(dir, file), "utf8"))
      .join("\n");
    expect(text).not.toMatch(/change-me/);
  });

  test("every image is pinned: no latest, no bare name", () => {
    const images = manifests.flatMap((m) => (m.spec?.template?.spec.containers ?? []).map((c) => c.image ?? ""));
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const image of images) expect(image, image).toMatch(/^[^:@]+(:(?!latest$)[\w.-]+|@sha256:[0-9a-f]{64})$/);
  });

  test.each(["coordinator", "worker", "detector", "gateway"])(
    "%s runs as non-root on a read-only root file system with no capabilities",
    (name) => {
      const pod = manifests.find((m) => m.kind === "Deployment" && m.metadata.name === name)?.spec?.template?.spec;
      expect(pod?.securityContext?.runAsNonRoot).toBe(true);
      expect(pod?.automountServiceAccountToken).toBe(false);
      const container = workload(name);
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
      expect(pod?.volumes).toContainEqual({ name: "tmp", emptyDir: {} });
    },
  );

  test("a NetworkPolicy denies ingress by default; the coordinator's gRPC is open to gateways and workers only", () => {
    const policies = manifests.filter((m) => m.kind === "NetworkPolicy");
    const deny = policies.find((m) => m.metadata.name === "default-deny-ingress");
    expect(deny?.spec?.podSelector).toEqual({});
    expect(deny?.spec?.policyTypes).toEqual(["Ingress"]);
    expect(deny?.spec?.ingress).toBeUndefined();
    for (const app of ["gateway", "coordinator", "worker", "detector", "nats", "minio"]) {
      expect(
        policies.some((m) => m.spec?.podSelector?.matchLabels?.app === app),
        app,
      ).toBe(true);
    }
    const coordinator = policies.find((m) => m.metadata.name === "coordinator");
    const grpc = coordinator?.spec?.ingress?.find((rule) => rule.ports?.some((p) => p.port === 50051)) as
      | { from?: { podSelector?: { matchExpressions?: { values: string[] }[] } }[] }
      | undefined;
    expect(grpc?.from?.[0]?.podSelector?.matchExpressions?.[0]?.values).toEqual(["gateway", "worker", "detector"]);
  });

  test("KEDA scales the workers on the coordinators' compression backlog (/backlog/compress), not the stream's lag alone", () => {
    const scaled = manifests.find((m) => m.kind === "ScaledObject" && m.metadata.name === "worker");
    expect(scaled?.spec?.scaleTargetRef?.name).toBe("worker");
    const triggers = scaled?.spec?.triggers ?? [];
    expect(triggers).toHaveLength(1);
    const [trigger] = triggers;
    expect(trigger?.type).toBe("metrics-api");
    // The coordinator Service's HTTP port, the path and the field that tests/backlog.test.ts reads off a cluster.
    const url = new URL(trigger?.metadata.url ?? "");
    // Compression's backlog alone: these workers only compress; the detectors scale on /backlog/detect.
    expect([url.hostname.split(".")[0], url.port, url.pathname]).toEqual([
      "coordinator",
      "9464",
      `${BACKLOG_PATH}/${taskKindOf(TaskKind.COMPRESS).name}`,
    ]);
    expect(trigger?.metadata.valueLocation).toBe(BACKLOG_FIELD);
    // /backlog refuses a caller without a token (tests/backlog.test.ts): KEDA sends the operator's.
    expect(trigger?.metadata.authMode).toBe("bearer");
    const auth = manifests.find(
      (m) =>
        m.kind === "TriggerAuthentication" &&
        m.metadata.name === (trigger as { authenticationRef?: { name: string } })?.authenticationRef?.name,
    );
    expect((auth?.spec as { secretTargetRef?: unknown[] } | undefined)?.secretTargetRef).toEqual([
      { parameter: "token", name: "imgc-internal", key: "operator.token" },
    ]);
    expect(Number(trigger?.metadata.targetValue)).toBeGreaterThan(0);
  });

  test("coordinators and workers get IMGC_METRICS_TOKEN from imgc-internal, and the PodMonitor sends that key", () => {
    for (const name of ["coordinator", "worker"]) {
      const env = (workload(name).env ?? []) as { name: string; valueFrom?: unknown }[];
      expect(env.find((e) => e.name === "IMGC_METRICS_TOKEN")?.valueFrom, name).toEqual({
        secretKeyRef: { name: "imgc-internal", key: "metrics.token" },
      });
    }
    const monitor = manifests.find((m) => m.kind === "PodMonitor" && m.metadata.name === "imgc");
    expect((monitor?.spec as { podMetricsEndpoints?: unknown[] } | undefined)?.podMetricsEndpoints).toEqual([
      expect.objectContaining({
        path: "/metrics",
        authorization: { type: "Bearer", credentials: { name: "imgc-internal", key: "metrics.token" } },
      }),
    ]);
  });

  test("three coordinators, a disruption budget that keeps two, each advertising where it is reached", () => {
    const coordinator = manifests.find((m) => m.kind === "Deployment" && m.metadata.name === "coordinator");
    expect((coordinator?.spec as { replicas?: number } | undefined)?.replicas).toBe(3);
    const budget = manifests.find((m) => m.kind === "PodDisruptionBudget" && m.metadata.name === "coordinator");
    expect((budget?.spec as { minAvailable?: number } | undefined)?.minAvailable).toBe(2);
    expect(envOf(workload("coordinator")).IMGC_COORDINATOR_ADVERTISE).toBe("$(POD_IP):50051");
    const service = manifests.find((m) => m.kind === "Service" && m.metadata.name === "coordinator");
    expect((service?.spec as { clusterIP?: string } | undefined)?.clusterIP).toBe("None");
  });
});
