/**
 * Real Kafka and a real ClickHouse server through testcontainers, used when a container runtime
 * answers (a laptop with Docker, most CI services). This machine has none: the probe fails in a
 * few milliseconds and the embedded engines are used instead.
 */
export async function externalEngines(): Promise<{ brokers: string[]; clickhouseUrl: string; clickhouseUser: string; clickhousePassword: string; stop: () => Promise<void> } | null> {
  if (process.env.LEDGER_TEST_CONTAINERS === "0") return null;
  let tc: typeof import("testcontainers");
  try {
    tc = await import("testcontainers");
    await tc.getContainerRuntimeClient();
  } catch {
    return null;
  }
  const { KafkaContainer } = await import("@testcontainers/kafka");
  const { ClickHouseContainer } = await import("@testcontainers/clickhouse");
  const [kafka, clickhouse] = await Promise.all([
    new KafkaContainer("confluentinc/cp-kafka:7.6.1").withKraft().start(),
    new ClickHouseContainer("clickhouse/clickhouse-server:25.3").start(),
  ]);
  return {
    brokers: [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`],
    clickhouseUrl: clickhouse.getHttpUrl(),
    clickhouseUser: clickhouse.getUsername(),
    clickhousePassword: clickhouse.getPassword(),
    stop: async () => {
      await Promise.all([kafka.stop(), clickhouse.stop()]);
    },
  };
}
