export * from "./coalescer";
export * from "./repeater";
