/**
 * Which instance of a singleton role (the invoicer, the sealer) acts. Every instance runs its
 * loop; only the one that `leads()` acts, and it `confirm()`s its lease before each write, so an
 * instance that lost its lease while paused stops before writing again.
 */
export interface Leadership {
  /** What the last renewal said: this instance holds the lease. */
  leads(): boolean;
  /** Resolves while the lease is still this instance's; rejects with NotLeaderError otherwise. */
  confirm(): Promise<void>;
  /** The lease's fencing token: higher for every later term, whoever holds it. */
  readonly term: bigint | null;
}

/** The instance does not hold the lease (any more): its write is not made. */
export class NotLeaderError extends Error {
  readonly retriable = true;
  constructor(role: string) {
    super(`this ${role} instance does not hold the leader lease; another instance acts`);
    this.name = "NotLeaderError";
  }
}

/** One process, no other instance: `ledger serve` and replays on the embedded engines. */
export const soleLeadership: Leadership = { leads: () => true, confirm: async () => {}, term: null };

/** An instance without the role (an API process answering a close by command): never acts on its own. */
export function neverLeads(role: string): Leadership {
  return {
    leads: () => false,
    confirm: async () => {
      throw new NotLeaderError(role);
    },
    term: null,
  };
}
