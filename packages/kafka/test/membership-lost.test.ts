import { expect, test } from "vitest";
import { isMembershipLost } from "../src/errors";

// kafkajs reports a commit refused by a rebalance as a non-retriable wrapper whose cause carries
// the broker's code; a consumer must let the partition go, not stop.
test("a commit refused because the group rebalanced is a lost membership, whatever wraps it; other refusals are not", () => {
  const protocol = (code: number) => Object.assign(new Error("broker said no"), { code });
  const wrapped = (cause: Error) => Object.assign(new Error("gave up", { cause }), { retriable: false });
  for (const code of [22, 25, 27]) {
    expect(isMembershipLost(protocol(code))).toBe(true);
    expect(isMembershipLost(wrapped(protocol(code)))).toBe(true);
    expect(isMembershipLost(wrapped(wrapped(protocol(code))))).toBe(true);
  }
  for (const code of [3, 6, 16, 29]) expect(isMembershipLost(wrapped(protocol(code)))).toBe(false);
  expect(isMembershipLost(new Error("no code"))).toBe(false);
  expect(isMembershipLost(undefined)).toBe(false);
});
