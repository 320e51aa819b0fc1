export * from "./coalescer";
export * from "./repeater";
export * from "./leadership";
export * from "./shared-metric";
