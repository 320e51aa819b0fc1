/** A command given wrongly (a missing or conflicting flag): said as a sentence, exit code 2. */
export class CommandLineError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "CommandLineError";
  }
}
