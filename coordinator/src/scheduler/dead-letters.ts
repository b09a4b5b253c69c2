/**
 * Dead letters: JetStream raises an advisory when a chunk was delivered MaxDeliver times without an ack.
 * The advisories are kept in stream IMGC_DEAD_LETTERS (so one raised while the coordinator is down is still
 * seen) and read through a durable consumer; each one fails the items of its chunk that have no result,
 * then removes the spent message from the task stream.
 */
import { decodeMessage, type Logger, TASKS_STREAM } from "@imgc/common";
import { type Chunk, ChunkSchema } from "@imgc/proto";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  nanos,
  RetentionPolicy,
  StorageType,
} from "nats";

export const DEAD_LETTERS_STREAM = "IMGC_DEAD_LETTERS";
export const DEAD_LETTERS_CONSUMER = "coordinator";
export const MAX_DELIVERIES_SUBJECT = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${TASKS_STREAM}.*`;

interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

export async function ensureDeadLetters(jsm: JetStreamManager): Promise<void> {
  const config = {
    name: DEAD_LETTERS_STREAM,
    subjects: [MAX_DELIVERIES_SUBJECT],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(7 * 24 * 3600_000),
  };
  try {
    await jsm.streams.info(DEAD_LETTERS_STREAM);
  } catch (err) {
    if (!/not found/i.test(String(err))) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
    }
  }
  try {
    await jsm.consumers.info(DEAD_LETTERS_STREAM, DEAD_LETTERS_CONSUMER);
  } catch (err) {
    if (!/not found/i.test(String(err))) throw err;
    await jsm.consumers.add(DEAD_LETTERS_STREAM, {
      durable_name: DEAD_LETTERS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(60_000),
    });
  }
}

export interface DeadLetterDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  /** Fails the chunk's items without a result; returns how many. */
  onDeadChunk: (chunk: Chunk, deliveries: number) => Promise<number>;
}

export function createDeadLetters(deps: DeadLetterDeps) {
  const { js, jsm, log } = deps;
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;

  async function handle(advisory: MaxDeliveriesAdvisory): Promise<void> {
    let chunk: Chunk;
    try {
      const stored = await jsm.streams.getMessage(TASKS_STREAM, { seq: advisory.stream_seq });
      chunk = decodeMessage(ChunkSchema, stored.data);
    } catch (err) {
      // Already removed (a previous run handled it, or a late ack took it): nothing left to fail.
      if (/no message found|not found/i.test(String(err))) return;
      throw err;
    }
    const failed = await deps.onDeadChunk(chunk, advisory.deliveries);
    log.warn(
      { jobId: chunk.jobId, index: chunk.index, deliveries: advisory.deliveries, failed },
      "chunk dead-lettered",
    );
    await jsm.streams.deleteMessage(TASKS_STREAM, advisory.stream_seq, false).catch(() => false);
  }

  return {
    async start(): Promise<void> {
      const consumer = await js.consumers.get(DEAD_LETTERS_STREAM, DEAD_LETTERS_CONSUMER);
      const iterator = await consumer.consume({ max_messages: 16 });
      messages = iterator;
      loop = (async () => {
        for await (const message of iterator) {
          try {
            await handle(message.json<MaxDeliveriesAdvisory>());
            message.ack();
          } catch (err) {
            log.error({ err }, "could not handle a max-deliveries advisory; retrying later");
            message.nak(5_000);
          }
        }
      })();
    },

    async stop(): Promise<void> {
      messages?.stop();
      await loop;
    },
  };
}
