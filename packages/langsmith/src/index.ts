export * from "./run";
export * from "./mapping";
export * from "./stored-run";
export * from "./sent-run";
