/** A request about invoices or usage that cannot be answered: not a period, no such line, not final yet, a day outside its period. */
export class InvoiceRequestError extends Error {
  readonly retriable = false;
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = "InvoiceRequestError";
  }
}

