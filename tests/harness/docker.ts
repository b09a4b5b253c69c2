/**
 * NATS and MinIO as containers, for machines with a Docker engine. testcontainers is imported only here,
 * and only when this runtime is chosen. Host ports are fixed at start so that a restart keeps the address.
 */
import { connect } from "nats";
import type { StartedTestContainer } from "testcontainers";
import { freePort } from "../../scripts/lib/free-port.js";
import type { InfraHandle, S3Handle } from "./infra.js";

export const MINIO_ACCESS_KEY = "imgc-test";
export const MINIO_SECRET_KEY = "imgc-test-secret";

/** `config`: nats-server configuration text (the users and permissions of scripts/lib/nats-auth.ts). */
export async function startNatsContainer(
  config: string,
  probeAuth: { user: string; pass: string },
): Promise<InfraHandle> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const port = await freePort();
  const container = await new GenericContainer("nats:2.10")
    .withCopyContentToContainer([{ content: config, target: "/etc/imgc-nats.conf" }])
    .withCommand(["-c", "/etc/imgc-nats.conf", "-js", "-sd", "/data"])
    .withExposedPorts({ container: 4222, host: port })
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  const url = `nats://${container.getHost()}:${port}`;
  return controls(container, url, async () => {
    const nc = await connect({ servers: url, timeout: 1_000, ...probeAuth });
    await nc.close();
  });
}

export async function startMinioContainer(bucket: string): Promise<S3Handle> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const port = await freePort();
  const container = await new GenericContainer("minio/minio")
    .withCommand(["server", "/data"])
    .withEnvironment({ MINIO_ROOT_USER: MINIO_ACCESS_KEY, MINIO_ROOT_PASSWORD: MINIO_SECRET_KEY })
    .withExposedPorts({ container: 9000, host: port })
    .withWaitStrategy(Wait.forHttp("/minio/health/ready", 9000))
    .start();
  const url = `http://${container.getHost()}:${port}`;
  const handle = controls(container, url, async () => {
    const res = await fetch(`${url}/minio/health/ready`);
    if (!res.ok) throw new Error(`minio answered ${res.status}`);
  });
  return { ...handle, accessKey: MINIO_ACCESS_KEY, secretKey: MINIO_SECRET_KEY, bucket };
}

function controls(container: StartedTestContainer, url: string, probe: () => Promise<void>): InfraHandle {
  return {
    url,
    logFile: undefined,
    async stop() {
      await container.stop({ timeout: 5_000 });
    },
    async kill(signal = "SIGKILL") {
      const { getContainerRuntimeClient } = await import("testcontainers");
      const client = await getContainerRuntimeClient();
      await client.container.getById(container.getId()).kill({ signal });
    },
    async restart() {
      // The container's filesystem (the JetStream store, MinIO's /data) survives a restart.
      await container.restart({ timeout: 5_000 });
      // Docker's port proxy accepts connections before the server inside does: ask the server itself.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          return await probe();
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
  };
}
