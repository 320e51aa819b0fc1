export * from "./config";
export * from "./sink";
export * from "./sink-rows";
export * from "./run-retention";
