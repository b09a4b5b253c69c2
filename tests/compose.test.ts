/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so their shape is checked
 * against the protocol: the services, a scalable worker, and only documented IMGC_* variables.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createLogger, type HealthServer, startHealthServer } from "@imgc/common";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../scripts/lib/local-stack.js";

interface ComposeService {
  image?: string;
  build?: { context?: string; target?: string };
  command?: string[];
  container_name?: string;
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[]; interval?: string; timeout?: string; retries?: number };
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
}

const read = (file: string) => readFileSync(path.join(repoRoot, file), "utf8");
const compose = parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const dockerfile = read("Dockerfile");
const documented = new Set(read("docs/protocol.md").match(/IMGC_[A-Z0-9_]+/g));
const imgcServices = ["coordinator", "worker", "gateway"] as const;

function service(name: string): ComposeService {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

describe("docker-compose.yml", () => {
  test("names the services nats, minio, coordinator, worker and gateway", () => {
    expect(Object.keys(services).sort()).toEqual(["coordinator", "gateway", "minio", "nats", "worker"]);
    expect(service("nats").image).toBe("nats:2.10");
    expect(service("nats").command).toContain("-js");
    // Pinned to a release, never a moving tag.
    expect(service("minio").image).toMatch(/^minio\/minio:RELEASE\.\d{4}-\d\d-\d\dT[\d-]+Z$/);
    expect(service("minio").command?.slice(0, 2)).toEqual(["server", "/data"]);
  });

  test("the worker scales: no fixed container name, no host port", () => {
    const worker = service("worker");
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
  });

  test("the gateway publishes its HTTP and gRPC ports, on the host's loopback only", () => {
    const gateway = service("gateway");
    expect(gateway.ports).toEqual(["127.0.0.1:8080:8080", "127.0.0.1:8081:8081"]);
    expect(gateway.environment).toMatchObject({ IMGC_GATEWAY_PORT: "8080", IMGC_GATEWAY_GRPC_PORT: "8081" });
  });

  test("nothing starts open: no published port beyond loopback, no default secret, no implicit dev mode", () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const port of svc.ports ?? []) expect(port, `${name} publishes ${port}`).toMatch(/^127\.0\.0\.1:/);
    }
    // `${VAR:?message}`: compose refuses to start without the secret rather than use a known one.
    expect(service("minio").environment?.MINIO_ROOT_PASSWORD).toMatch(/^\$\{MINIO_ROOT_PASSWORD:\?/);
    const gateway = service("gateway").environment ?? {};
    // Compose's own interpolation: empty unless the operator sets them.
    expect(gateway.IMGC_API_KEYS).toBe("$" + "{IMGC_API_KEYS:-}");
    expect(gateway.IMGC_DEV_MODE).toBe("$" + "{IMGC_DEV_MODE:-0}");
  });

  test("the imgc services run without privileges on a read-only root file system", () => {
    for (const name of imgcServices) {
      const svc = service(name);
      expect(svc.read_only, name).toBe(true);
      expect(svc.tmpfs, name).toEqual(["/tmp"]);
      expect(svc.cap_drop, name).toEqual(["ALL"]);
      expect(svc.security_opt, name).toEqual(["no-new-privileges:true"]);
    }
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  test("every service reaches NATS, MinIO and the coordinator by their compose names", () => {
    const coordinator = service("coordinator").environment ?? {};
    for (const name of imgcServices) {
      const env = service(name).environment ?? {};
      expect(env.IMGC_NATS_URL, name).toBe("nats://nats:4222");
      expect(env.IMGC_S3_ENDPOINT, name).toBe("http://minio:9000");
      expect(env.IMGC_COORDINATOR_URL, name).toBe(`coordinator:${coordinator.IMGC_COORDINATOR_PORT}`);
      expect(env.IMGC_S3_ACCESS_KEY, name).toBe(service("minio").environment?.MINIO_ROOT_USER);
      expect(env.IMGC_S3_SECRET_KEY, name).toBe(service("minio").environment?.MINIO_ROOT_PASSWORD);
    }
    expect(coordinator.IMGC_COORDINATOR_HOST).toBe("0.0.0.0");
    expect(service("gateway").environment?.IMGC_GATEWAY_HOST).toBe("0.0.0.0");
  });

  test("uses only the IMGC_* variables docs/protocol.md documents", () => {
    expect(documented.size).toBeGreaterThan(10);
    for (const [name, svc] of Object.entries(services)) {
      for (const key of Object.keys(svc.environment ?? {}).filter((k) => k.startsWith("IMGC_"))) {
        expect(documented.has(key), `${name}: ${key} is documented`).toBe(true);
      }
    }
  });

  test("each imgc service builds its own Dockerfile target, which runs its main.ts through tsx", () => {
    for (const name of imgcServices) {
      expect(service(name).build).toMatchObject({ context: ".", target: name });
      const stage = dockerfile.split(/^FROM /m).find((part) => new RegExp(`^\\S+ AS ${name}\\s*$`, "m").test(part));
      expect(stage, `Dockerfile stage ${name}`).toBeDefined();
      expect(stage).toContain(`CMD ["node", "--import", "tsx", "${name}/src/main.ts"]`);
    }
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
  });

  test("the Dockerfile copies every workspace's manifest before npm ci", () => {
    const { workspaces } = JSON.parse(read("package.json")) as { workspaces: string[] };
    const beforeCi = dockerfile.slice(0, dockerfile.search(/^RUN npm ci\b/m));
    for (const workspace of workspaces) {
      expect(beforeCi, workspace).toContain(`COPY ${workspace}/package.json ${workspace}/`);
    }
  });
});

/** The port each imgc service serves /readyz on, by its own environment. */
const readyPort: Record<(typeof imgcServices)[number], string> = {
  coordinator: "IMGC_COORDINATOR_HTTP_PORT",
  worker: "IMGC_WORKER_HTTP_PORT",
  gateway: "IMGC_GATEWAY_PORT",
};

/** Runs a healthcheck's `node -e` probe with its port moved to `port`; resolves with the exit code. */
function runProbe(command: string[], port: number): Promise<number> {
  const script = (command[3] ?? "").replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
  return new Promise((resolve) => {
    execFile(process.execPath, ["-e", script], { timeout: 20_000 }, (err) => {
      resolve(err ? ((err as { code?: number }).code ?? 1) : 0);
    });
  });
}

describe("docker-compose.yml healthchecks", () => {
  test.each(imgcServices)("%s probes GET /readyz on its own HTTP port with node (the image has no curl)", (name) => {
    const svc = service(name);
    const check = svc.healthcheck?.test ?? [];
    expect(check.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
    const url = /fetch\('(http:\/\/[^']+)'\)/.exec(check[3] ?? "")?.[1];
    expect(url, `${name} probes a URL`).toBeDefined();
    const parsed = new URL(url ?? "http://x");
    expect(parsed.hostname).toBe("127.0.0.1");
    expect(parsed.pathname).toBe("/readyz");
    expect(parsed.port).toBe(svc.environment?.[readyPort[name]]);
    expect(svc.healthcheck?.interval).toBeDefined();
  });

  test("the worker and the gateway start once the coordinator is healthy", () => {
    for (const name of ["worker", "gateway"]) {
      expect(service(name).depends_on?.coordinator?.condition, name).toBe("service_healthy");
    }
  });

  test("the probe exits 0 on a ready process, 1 on an unready one and 1 when nothing listens", async () => {
    const command = service("worker").healthcheck?.test ?? [];
    let ready = true;
    const server: HealthServer = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      log: createLogger("test", "silent"),
      checks: {
        nats: async () => {
          if (!ready) throw new Error("down");
        },
      },
    });
    try {
      expect(await runProbe(command, server.port)).toBe(0);
      ready = false;
      expect(await runProbe(command, server.port)).toBe(1);
    } finally {
      await server.close();
    }
    expect(await runProbe(command, server.port)).toBe(1);
  });
});
