/** A request the API refuses as sent: the status and the JSON body to answer with. */
export class RequestError extends Error {
  /** A 5xx (Kafka did not acknowledge, say) may succeed when sent again; a 4xx will not. */
  readonly retriable: boolean;
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
    this.name = "RequestError";
    this.retriable = status >= 500;
  }
}
