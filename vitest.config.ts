import { defineConfig } from "vitest/config";

// Two projects: `unit` tests live beside the code they test and fake only what they do not test;
// `integration` tests (tests/) start real nats-server, S3 and imgc processes on loopback.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{proto,common,coordinator,worker,gateway,cli,web}/src/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // One cluster at a time: the machine has 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
