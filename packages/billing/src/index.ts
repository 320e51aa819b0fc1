export * from "./period";
export * from "./instant";
export * from "./pricing";
export * from "./upgrade-decision";
export * from "./reference-ledger";
export * from "./usage-row";
