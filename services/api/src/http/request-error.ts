/**
 * A request the API refuses as sent, or could not serve: the status and the JSON body to
 * answer with. Every refusal of a request is one of these (or a subclass), so the error handler
 * answers it by its data, never by its class name or message.
 */
export class RequestError extends Error {
  /** A 5xx (Kafka did not acknowledge, say) or a 408 may succeed when sent again; a 4xx will not. */
  readonly retriable: boolean;
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
    this.name = "RequestError";
    this.retriable = status >= 500;
  }

  /** What fastify's body reader looks for on a stream's error (it answers 400 without it). */
  get statusCode(): number {
    return this.status;
  }
}
