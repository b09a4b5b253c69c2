/**
 * Job events on stream IMGC_EVENTS, subject `imgc.events.<job>`. WatchJob replays them from any stream
 * sequence, so a client that reconnects with the last sequence it saw misses nothing and sees nothing twice.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { decodeMessage, EVENTS_STREAM, encodeMessage, eventSubject, type Logger } from "@imgc/common";
import {
  type ItemResult,
  isTerminalItemState,
  isTerminalJobState,
  type Job,
  type JobEvent,
  JobEventSchema,
} from "@imgc/proto";
import { DeliverPolicy, headers, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import { type Fence, unfenced } from "../leadership/fence.js";

export function isFinalEvent(event: JobEvent): boolean {
  return event.kind.case === "job" && isTerminalJobState(event.kind.value.state) && !!event.kind.value.finishedAt;
}

export interface EventsDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  fence?: Fence;
}

export function createEvents({ nc, js, jsm, log, fence = unfenced }: EventsDeps) {
  /**
   * Sends an event. Only `mustLand` ones (the final event) are JetStream publishes that wait for the stream's
   * answer. The others are plain publishes to the stream's subject, which the stream stores all the same (with
   * the same `Nats-Msg-Id` dedup) but answers nothing: a request per event (its reply subscription, timer and
   * parsed answer) was a tenth of the coordinator's CPU on the per-item path, to learn of a loss that nothing
   * would act on. Events are progress reports: the job state in KV is the truth, and a new leader republishes
   * recent ends. The order holds: one connection delivers what it sends in the order sent, so the final event is
   * stored after every event sent before it.
   */
  async function publish(event: JobEvent, msgID?: string, mustLand = false): Promise<void> {
    // Only the leader speaks for a job: a deposed one would tell watchers things that did not happen.
    fence.check();
    const subject = eventSubject(event.jobId);
    const data = encodeMessage(JobEventSchema, event);
    if (!mustLand) {
      const h = msgID ? headers() : undefined;
      h?.set("Nats-Msg-Id", msgID as string);
      try {
        nc.publish(subject, data, h ? { headers: h } : undefined);
      } catch (err) {
        // A closed connection throws at once; a lost progress event must not fail the report that sent it.
        log.warn({ err, jobId: event.jobId }, "could not publish a job event");
      }
      return;
    }
    try {
      await js.publish(subject, data, msgID ? { msgID } : {});
    } catch (err) {
      log.warn({ err, jobId: event.jobId }, "could not publish a job event");
      throw err;
    }
  }

  return {
    /** The job as it is now; the final event (a job that ended) is published once, whoever retries it. */
    async job(job: Job): Promise<void> {
      const event = create(JobEventSchema, { jobId: job.id, time: timestampNow(), kind: { case: "job", value: job } });
      const final = isFinalEvent(event);
      await publish(event, final ? `${job.id}.final` : undefined, final);
    },

    /** An item started or ended; an item's end is published once, whoever retries it (the stream's dedup window). */
    async item(jobId: string, result: ItemResult): Promise<void> {
      const event = create(JobEventSchema, { jobId, time: timestampNow(), kind: { case: "item", value: result } });
      await publish(event, isTerminalItemState(result.state) ? `${jobId}.${result.itemId}.end` : undefined);
    },

    /** The stream sequence of the job's last event, 0 when it has none. */
    async lastSequence(jobId: string): Promise<number> {
      try {
        const message = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(jobId) });
        return message.seq;
      } catch (err) {
        if (/no message found|not found/i.test(String(err))) return 0;
        throw err;
      }
    },

    /** The job's events after `afterSequence`, as they come, until the final one (or `signal` aborts). */
    async *watch(jobId: string, afterSequence: number, signal: AbortSignal): AsyncGenerator<JobEvent> {
      // One filter subject as a string, and no explicit "all" policy: nats-server 2.9 stalls an ordered
      // consumer given either (a list of filters is a 2.10 feature).
      const consumer = await js.consumers.get(EVENTS_STREAM, {
        filterSubjects: eventSubject(jobId),
        ...(afterSequence > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSequence + 1 } : {}),
      });
      const messages = await consumer.consume();
      const stop = () => messages.stop();
      signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const message of messages) {
          const event = decodeMessage(JobEventSchema, message.data);
          event.sequence = BigInt(message.seq);
          yield event;
          if (isFinalEvent(event)) return;
        }
      } finally {
        signal.removeEventListener("abort", stop);
        messages.stop();
      }
    },
  };
}

export type Events = ReturnType<typeof createEvents>;
