/**
 * The project's local S3-protocol server: s3rver on loopback, objects kept in a data folder.
 *
 * Used by `npm run up` and by the test harness (as its own process, so tests can stop and restart it).
 * Production and docker-compose use MinIO; the cluster speaks plain S3 to both.
 *
 *   node --import tsx scripts/s3-server.ts --port 9000 --dir .data/s3 [--bucket imgc]
 */
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import S3rver from "s3rver";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "9000" },
    host: { type: "string", default: "127.0.0.1" },
    dir: { type: "string", default: ".data/s3" },
    bucket: { type: "string", default: "imgc" },
  },
});

// Browsers upload straight to presigned URLs and read results from them, so the bucket allows CORS.
const cors = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

mkdirSync(values.dir, { recursive: true });
const server = new S3rver({
  address: values.host,
  port: Number(values.port),
  directory: values.dir,
  silent: true,
  configureBuckets: [{ name: values.bucket, configs: [cors] }],
});
const { address, port } = await server.run();
console.log(JSON.stringify({ service: "s3", msg: "ready", url: `http://${address}:${port}`, bucket: values.bucket }));

const stop = () => {
  server.close().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
