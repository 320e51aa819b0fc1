export * from "./errors";
export * from "./mock-cluster";
export * from "./topics";
export * from "./connect";
export * from "./lag";
export * from "./batch-consumer";
export * from "./dead-letter";
export * from "./partitioner";
