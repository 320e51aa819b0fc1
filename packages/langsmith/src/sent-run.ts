/**
 * A run as a multipart body sent it (see langsmith-sdk.md): the JSON text of its own part
 * (`post.<id>`, `patch.<id>`) and of each field sent as a part of its own (`post.<id>.inputs`, …).
 * Kept so that the stored run is the text the client sent and §6.2's bytes are the bytes it
 * sent, without serializing every run and its inputs and outputs again on the ingest thread.
 */
export interface SentRun {
  /** The run part's text, if the body had one. */
  head?: string;
  /** Fields the run part itself holds, where they are also sent as parts of their own (a conflict). */
  overlaps: boolean;
  /** Whether the run part's `id` is the part name's (else the name's id replaces it). */
  headIdMatches: boolean;
  /** Each field sent as a part of its own: its JSON text (the last such part wins). */
  fields: Map<string, string>;
  /** The byte length of each field sent as a part of its own. */
  fieldBytes: Map<string, number>;
}

const LINE_BREAK = /[\r\n]/;

/** The fields whose sizes §6.2 counts. */
export const CHARGED_FIELDS = ["inputs", "outputs", "extra"] as const;
export type ChargedField = (typeof CHARGED_FIELDS)[number];

/**
 * The run's JSON text as sent: its part's text with the fields sent as parts appended, or
 * undefined where that text would not be the run the ledger reads (the part's own `id` differs
 * from its name, a field is both inside the part and a part of its own, or a text spans lines:
 * the ledger's run is then built as an object and serialized). Parsing the text gives the same run as merging the
 * parts (`Object.assign(head, fields, { id })`); a property test checks it.
 */
export function sentRunText(id: string, sent: SentRun): string | undefined {
  if (sent.overlaps) return undefined;
  // A stored run is one line of a JSONEachRow message: a text broken over lines (whitespace
  // between its tokens; inside a JSON string a line break is always escaped) is serialized anew.
  if ((sent.head !== undefined && LINE_BREAK.test(sent.head)) || [...sent.fields.values()].some((t) => LINE_BREAK.test(t))) return undefined;
  let text: string;
  if (sent.head === undefined) text = `{"id":${JSON.stringify(id)}`;
  else {
    if (!sent.headIdMatches) return undefined;
    const head = sent.head.trimEnd();
    // A JSON object that has an id: its text ends with the closing brace, after one member at least.
    text = head.slice(0, -1);
  }
  for (const [field, value] of sent.fields) text += `,${JSON.stringify(field)}:${value}`;
  return `${text}}`;
}
