import { Kafka, logLevel, type Producer } from "kafkajs";
import { KafkaUnavailableError } from "./errors";

/** kafkajs's types as the rest of the ledger names them: no other package imports kafkajs. */
export type { Admin as KafkaAdmin, Kafka as KafkaConnection, Producer as KafkaProducer, KafkaMessage as ConsumedMessage } from "kafkajs";
import { LedgerPartitioner } from "./partitioner";

export function createKafka(brokers: string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.ERROR,
    logCreator: () => ({ level, log }) => {
      const { message, error } = log as { message: string; error?: string };
      if (level <= logLevel.ERROR && !/The group is rebalancing|coordinator is not aware/.test(String(error ?? message))) {
        process.stderr.write(`[kafka] ${message}${error ? `: ${error}` : ""}\n`);
      }
    },
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 3_000 },
  });
}

/**
 * acks = all producer. Not `idempotent: true`: kafkajs asks the controller for a producer id,
 * which the test broker cannot give; duplicates from producer retries are harmless anyway
 * because every sink row has a deterministic id (D1). Keys are placed as kafkajs's default
 * partitioner places them (LedgerPartitioner, the same murmur2 computed without 64-bit objects).
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 5 }, createPartitioner: LedgerPartitioner });
}

export interface KeyedMessage {
  key: string;
  /** Text, or bytes already encoded (the runs topic's messages: copied by the producer as they are). */
  value: string | Buffer;
  headers?: Record<string, string>;
  /** Set only where the partition is not the key's: markers, and upgrades kept in their input partition's number. */
  partition?: number;
}

/** Sends and waits for every broker acknowledgement (acks = -1), or throws a retriable error. */
export async function publish(producer: Producer, topic: string, messages: KeyedMessage[]): Promise<void> {
  if (messages.length === 0) return;
  try {
    await producer.send({ topic, acks: -1, messages });
  } catch (error) {
    throw new KafkaUnavailableError(`Kafka did not acknowledge ${messages.length} message(s) on ${topic}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
