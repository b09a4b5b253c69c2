/** Small, typed helpers over NATS KV: protobuf JSON values, compare-and-set, and point-in-time snapshots. */
import { clone, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { decodeMessage, encodeMessage } from "@imgc/common";
import type { JetStreamManager, KV, KvEntry } from "nats";

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** True for the error KV create/update raise when the key's revision is not the expected one. */
export function isRevisionConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String((err as Error)?.message ?? err));
}

export async function getMessage<D extends DescMessage>(
  kv: KV,
  schema: D,
  key: string,
): Promise<Versioned<MessageShape<D>> | null> {
  const entry = await kv.get(key);
  if (entry?.operation !== "PUT") return null;
  return { value: decodeMessage(schema, entry.value), revision: entry.revision };
}

/** Writes the value only if the key has none; false when another writer got there first. */
export async function createMessage<D extends DescMessage>(
  kv: KV,
  schema: D,
  key: string,
  value: MessageShape<D>,
): Promise<number | null> {
  try {
    return await kv.create(key, encodeMessage(schema, value));
  } catch (err) {
    if (isRevisionConflict(err)) return null;
    throw err;
  }
}

/**
 * Compare-and-set loop: reads the key, lets `mutate` change the value (returning false means "nothing to
 * change"), writes it back at the revision read, and starts over when another writer moved the key first. With
 * `known` (the value as this process last wrote it) the first try starts from it instead of a read: a writer that
 * is usually the only one spares a round trip.
 */
export async function updateMessage<D extends DescMessage>(
  kv: KV,
  schema: D,
  key: string,
  mutate: (value: MessageShape<D>) => unknown,
  known?: Versioned<MessageShape<D>>,
): Promise<Versioned<MessageShape<D>> | null> {
  let current = known
    ? { value: clone(schema, known.value), revision: known.revision }
    : await getMessage(kv, schema, key);
  for (let attempt = 0; attempt < 20; attempt++) {
    if (!current) return null;
    if (mutate(current.value) === false) return current;
    try {
      const revision = await kv.update(key, encodeMessage(schema, current.value), current.revision);
      return { value: current.value, revision };
    } catch (err) {
      if (!isRevisionConflict(err)) throw err;
    }
    current = await getMessage(kv, schema, key);
  }
  throw new Error(`kv ${key}: too many concurrent updates`);
}

/** Every live entry whose key matches `key` (a KV key pattern, "job.>" for example), as of now. */
export async function snapshot(kv: KV, key = ">"): Promise<KvEntry[]> {
  const latest = new Map<string, KvEntry>();
  let initialized!: () => void;
  const ready = new Promise<void>((resolve) => {
    initialized = resolve;
  });
  const watch = await kv.watch({ key, initializedFn: () => initialized() });
  const drained = (async () => {
    for await (const entry of watch) latest.set(entry.key, entry);
  })();
  await ready;
  watch.stop();
  await drained;
  return [...latest.values()].filter((entry) => entry.operation === "PUT");
}

/**
 * Removes every entry of a KV bucket whose key matches `key` (a KV key pattern), history and all, in one call to
 * the bucket's stream: no delete markers are left behind, however many keys match.
 */
export async function purgeKeys(jsm: JetStreamManager, bucket: string, key: string): Promise<void> {
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${key}` });
}
