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
import { bundleServices } from "../scripts/bundle.js";
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
/** The Dockerfile's stages by name: the text from one `FROM … AS name` to the next FROM. */
const stages = new Map(
  dockerfile
    .split(/^FROM /m)
    .slice(1)
    .map((part) => [/^\S+ AS (\S+)\s*$/m.exec(part)?.[1] ?? "", part] as const),
);
const stage = (name: string) => stages.get(name);
const documented = new Set(read("docs/protocol.md").match(/IMGC_[A-Z0-9_]+/g));
const imgcServices = ["coordinator", "worker", "gateway"] as const;

function service(name: string): ComposeService {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

describe("docker-compose.yml", () => {
  test("names the services nats, minio, two coordinators, worker, detector and gateway", () => {
    expect(Object.keys(services).sort()).toEqual([
      "coordinator",
      "coordinator-2",
      "detector",
      "gateway",
      "minio",
      "nats",
      "worker",
    ]);
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
      // Every coordinator, each where it says it is reached.
      expect(env.IMGC_COORDINATOR_URL, name).toBe(
        ["coordinator", "coordinator-2"].map((c) => service(c).environment?.IMGC_COORDINATOR_ADVERTISE).join(","),
      );
      expect(env.IMGC_S3_ACCESS_KEY, name).toBe(service("minio").environment?.MINIO_ROOT_USER);
      expect(env.IMGC_S3_SECRET_KEY, name).toBe(service("minio").environment?.MINIO_ROOT_PASSWORD);
    }
    expect(coordinator.IMGC_COORDINATOR_HOST).toBe("0.0.0.0");
    expect(coordinator.IMGC_COORDINATOR_ADVERTISE).toBe(`coordinator:${coordinator.IMGC_COORDINATOR_PORT}`);
    expect(service("coordinator-2").environment?.IMGC_COORDINATOR_ID).toBe("coordinator-2");
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

  test("each imgc service builds its own Dockerfile target, which runs its bundled JavaScript without tsx", () => {
    for (const name of imgcServices) {
      expect(service(name).build).toMatchObject({ context: ".", target: name });
      const found = stage(name);
      expect(found, `Dockerfile stage ${name}`).toBeDefined();
      expect(found).toContain(`CMD ["node", "--enable-source-maps", "${name}/dist/main.js"]`);
      expect(found).not.toMatch(/tsx|\.ts\b/);
    }
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

describe("docker-compose.yml: the detection worker", () => {
  test("is the worker pulling DETECT chunks only, scalable, hardened, probed like the worker", () => {
    const detector = service("detector");
    const worker = service("worker");
    expect(detector.build).toEqual({ context: ".", target: "detector" });
    expect(detector.container_name).toBeUndefined();
    expect(detector.ports ?? []).toEqual([]);
    expect(detector.environment?.IMGC_WORKER_TASKS).toBe("detect");
    expect(worker.environment?.IMGC_WORKER_TASKS).toBeUndefined();
    for (const key of ["IMGC_NATS_URL", "IMGC_S3_ENDPOINT", "IMGC_COORDINATOR_URL", "IMGC_WORKER_HTTP_PORT"]) {
      expect(detector.environment?.[key], key).toBe(worker.environment?.[key]);
    }
    // Its own pool token (ids detector-…, from its host name), the workers' NATS user.
    expect(detector.environment?.IMGC_AUTH_TOKEN_FILE).toBe("/run/secrets/imgc-detector-token");
    expect(detector.environment?.IMGC_NATS_USER).toBe(worker.environment?.IMGC_NATS_USER);
    expect([detector.read_only, detector.tmpfs, detector.cap_drop]).toEqual([true, ["/tmp"], ["ALL"]]);
    expect(detector.healthcheck?.test).toEqual(worker.healthcheck?.test);
    expect(detector.depends_on?.coordinator?.condition).toBe("service_healthy");
  });

  test("only the detector image installs the model's workspace; it runs the worker's bundle", () => {
    const detector = stage("detector") ?? "";
    expect(detector).toContain('CMD ["node", "--enable-source-maps", "worker/dist/main.js"]');
    expect(detector).toMatch(/^ENV .*IMGC_WORKER_TASKS=detect/m);
    const deps = /^COPY --from=(\S+) .*\/app \/app$/m.exec(detector)?.[1] ?? "";
    expect(stage(deps)).toMatch(/^RUN npm ci --omit=dev .*--workspace worker --workspace models/m);
    const runtimeDeps = /^COPY --from=(\S+) .*\/app \/app$/m.exec(stage("runtime") ?? "")?.[1] ?? "";
    expect(stage(runtimeDeps)).not.toContain("models");
    const { dependencies } = JSON.parse(read("worker/package.json")) as { dependencies: Record<string, string> };
    expect(
      Object.keys(dependencies).filter((name) => name.startsWith("@tensorflow/") || name.includes("human")),
    ).toEqual([]);
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

describe("the images' runtime", () => {
  const manifest = (file: string) =>
    JSON.parse(read(file)) as { engines?: { node?: string }; dependencies?: Record<string, string> };

  test("a maintained LTS, pinned to the exact version CI tests on, which `engines` admits", () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/m.exec(dockerfile);
    expect(image, "ARG NODE_IMAGE=node:<major.minor.patch>-bookworm-slim").not.toBeNull();
    const [, major, minor, patch] = image ?? [];
    // Even majors are the LTS lines; 20 ended in April 2026.
    expect(Number(major) % 2).toBe(0);
    expect(Number(major)).toBeGreaterThanOrEqual(22);
    const ci = /^NODE_LTS_VERSION=(\S+)$/m.exec(read(".ci/run"))?.[1];
    expect(ci, ".ci/run's NODE_LTS_VERSION").toBe(`${major}.${minor}.${patch}`);
    const engines = manifest("package.json").engines?.node ?? "";
    const minimum = /^>=(\d+)/.exec(engines)?.[1];
    expect(minimum, `engines.node ${engines}`).toBeDefined();
    // What the dependencies ask for (connect-node, connect-fastify, protoc-gen-es: Node 22 or later).
    expect(Number(minimum)).toBeGreaterThanOrEqual(22);
    expect(Number(major)).toBeGreaterThanOrEqual(Number(minimum));
  });

  test("multi-stage: the images get built JavaScript and production dependencies only", () => {
    const runtime = stage("runtime") ?? "";
    expect(runtime, "a runtime stage").not.toBe("");
    // The base image itself, not a stage that installed devDependencies.
    expect(runtime).toMatch(/^\$\{NODE_IMAGE\} AS runtime/);
    const deps = /^COPY --from=(\S+) .*\/app \/app$/m.exec(runtime)?.[1] ?? "";
    expect(stage(deps), `the stage ${deps} the runtime's node_modules come from`).toMatch(
      /^RUN npm ci --omit=dev .*--workspace coordinator --workspace worker --workspace gateway$/m,
    );
    const fromBuild = [...runtime.matchAll(/^COPY --from=build \S+ (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(fromBuild).toEqual([
      ["/app/coordinator/dist", "coordinator/dist"],
      ["/app/worker/dist", "worker/dist"],
      ["/app/gateway/dist", "gateway/dist"],
      ["/app/web/dist", "web/dist"],
    ]);
    expect(stage("build")).toMatch(/^RUN node --import tsx scripts\/bundle\.ts services$/m);
    for (const name of imgcServices) expect(stage(name), name).toMatch(/^runtime AS /);
  });

  test("the bundles the images run exist after the build, and import only their services' dependencies", async () => {
    await bundleServices();
    const dependencies = (workspace: string) => Object.keys(manifest(`${workspace}/package.json`).dependencies ?? {});
    for (const name of imgcServices) {
      // What `npm ci --workspace <name>` installs: its dependencies and those of the workspaces it uses.
      const installed = new Set([...dependencies(name), ...dependencies("common"), ...dependencies("proto")]);
      const files = name === "worker" ? ["main.js", "engine-child.js", "detect/detect-child.js"] : ["main.js"];
      for (const file of files) {
        // The detect child runs only in the detector image, which installs the model's workspace too.
        if (file.startsWith("detect/")) for (const dep of dependencies("models")) installed.add(dep);
        const code = read(`${name}/dist/${file}`);
        // `from "x"` and `import "x"` / `import("x")`; not a call such as Buffer.from("…"), nor a string that ends
        // in "from" (a specifier holds no white space).
        const specifiers = [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)"([^"\s]+)"/g)].map((m) => m[1] ?? "");
        const packages = specifiers
          .filter((s) => !s.startsWith("node:") && !s.startsWith("."))
          .map((s) =>
            s
              .split("/")
              .slice(0, s.startsWith("@") ? 2 : 1)
              .join("/"),
          );
        expect(packages.length, `${name}/dist/${file} imports packages`).toBeGreaterThan(0);
        for (const pkg of new Set(packages)) {
          expect(installed.has(pkg) && !pkg.startsWith("@imgc/"), `${name}/dist/${file} imports ${pkg}`).toBe(true);
        }
      }
    }
  });
});
