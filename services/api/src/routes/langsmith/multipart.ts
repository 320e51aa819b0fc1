import type { Readable } from "node:stream";
import { getMultipartBoundary, MaxFileSizeExceededError, MaxHeaderSizeExceededError, MaxPartsExceededError, MaxTotalSizeExceededError, MultipartParseError, MultipartParser } from "@remix-run/multipart-parser/node";
import type { SentRun, StoredAttachment } from "@ledger/langsmith";
import { BodyTooLargeError } from "../../http/request-body";
import { parseJsonText } from "../../http/json-text";
import { RequestError } from "../../http/request-error";

/** What one `POST /runs/multipart` body holds, parts merged per run (see langsmith-sdk.md). */
export interface RunParts {
  posts: Map<string, Record<string, unknown>>;
  patches: Map<string, Record<string, unknown>>;
  feedback: Record<string, unknown>[];
  /** Bytes of each run's attachments (§6.2 counts them). */
  attachmentBytes: Map<string, number>;
  /** Each run's attachments, kept with the run (§8 item 4). */
  attachments: Map<string, StoredAttachment[]>;
  /** How each run was sent (`post.<id>`, `patch.<id>`): its texts and the bytes of its fields' parts. */
  sent: Map<string, SentRun>;
}

const RUN_FIELDS = new Set(["inputs", "outputs", "events", "extra", "error", "serialized"]);

/**
 * The most parts one body may have. Every part costs the parser and the mapping something
 * whatever its size; the body's bytes bound real parts first (a 5 MiB body holds about 20,000 of
 * the smallest, feedback), this bounds parts of almost nothing.
 */
export const MAX_PARTS = 50_000;

const json = (name: string, text: string): unknown => parseJsonText(text, "part", name);

/**
 * A part whose name came before in the same body: the same text again is the same delivery (a
 * client re-sending a run in one batch, D1) and is skipped; another text would leave the
 * ledger to pick one.
 */
function isRepeat(name: string, earlier: string | undefined, text: string): boolean {
  if (earlier === undefined) return false;
  if (earlier === text) return true;
  throw new RequestError(400, { error: `part ${JSON.stringify(name)} appears twice in one body with different contents; send each run, field and feedback once a batch; nothing was published` });
}

/**
 * Parses a multipart body as a stream with Remix's push parser: each chunk is written to it as it
 * arrives and the parts it completes come out at once, each a byte array (no stream per part,
 * which is how the SDK sends every part: as a file). The body stream holds it to `maxBytes`
 * (requestBody); a part repeated under its name must repeat its content (it is read once), and
 * a body has at most MAX_PARTS parts. On the first problem
 * the body is given up (destroyed: it stops decoding, and the rest is dropped off the wire).
 */
export function readRunParts(body: Readable, headers: Record<string, string | string[] | undefined>, maxBytes: number): Promise<RunParts> {
  return new Promise<RunParts>((resolve, reject) => {
    const parts: RunParts = { posts: new Map(), patches: new Map(), feedback: [], attachmentBytes: new Map(), attachments: new Map(), sent: new Map() };
    const contentType = String(headers["content-type"] ?? "");
    const boundary = /^multipart\//i.test(contentType) ? getMultipartBoundary(contentType) : null;
    // Not multipart: another parser has read the body already, or requestBody drops it.
    if (!boundary) {
      return reject(new RequestError(400, { error: `not a multipart body: Content-Type must be multipart/form-data with a boundary (it was ${JSON.stringify(contentType)}); nothing was published` }));
    }
    // maxParts: the body's cap bounds them; a batch of 100 runs with inputs, outputs and
    // attachments has many more than the parser's default 1,000.
    const parser = new MultipartParser(boundary, { maxHeaderSize: 8 * 1024, maxFileSize: maxBytes, maxTotalSize: maxBytes, maxParts: MAX_PARTS });
    const feedbackTexts = new Map<string, string>();
    let failed = false;
    let closed = false;
    // The parser refuses any byte after the close delimiter, which an epilogue (or just the
    // CRLF after it, when it arrives in the next chunk) is; RFC 2046 says to ignore it.
    function* write(chunk: Buffer) {
      try {
        yield* parser.write(chunk);
      } catch (error) {
        if (!(error instanceof MultipartParseError && /after end of stream/.test(error.message))) throw error;
        closed = true;
      }
    }
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      body.off("data", onData);
      body.destroy();
      reject(asRequestError(error, maxBytes));
    };
    const onData = (chunk: Buffer) => {
      try {
        if (closed) return; // the epilogue after the close delimiter: ignored (RFC 2046 §5.1.1)
        for (const part of write(chunk)) {
          const content = part.content.length === 1 ? Buffer.from(part.content[0]!.buffer, part.content[0]!.byteOffset, part.content[0]!.byteLength) : Buffer.concat(part.content);
          const { name, mediaType } = sdkPartHeading(part.headerText) ?? partHeading(part.headers);
          onPart(parts, feedbackTexts, name, content, mediaType);
        }
      } catch (error) {
        fail(error);
      }
    };
    body.on("data", onData);
    body.on("end", () => {
      if (failed) return;
      try {
        parser.finish();
        resolve(parts);
      } catch (error) {
        fail(error);
      }
    });
    body.on("error", (error) => fail(error instanceof RequestError ? error : new RequestError(400, { error: `the body could not be read: ${(error as Error).message}` })));
    // A body that failed before its reader came (it timed out, say) has its error already.
    if (body.errored) fail(body.errored);
  });
}

/**
 * The `name` parameter of a part's Content-Disposition (RFC 7578: a quoted string, else a
 * token). Read here rather than through the parser's `name`, which builds a full
 * Content-Disposition object per part, and the SDK's bodies have thousands of parts.
 */
const NAME = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i;
const FILENAME = /;\s*filename\*?\s*=/i;
export function partName(disposition: string): string | undefined {
  const m = NAME.exec(disposition);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
}
const mediaTypeOf = (contentType: string | undefined) => contentType?.split(";", 1)[0]!.trim().toLowerCase() || undefined;

/** What the ledger reads of a part's headers: its name and its media type (a file's by default). */
export interface PartHeading {
  name: string | undefined;
  mediaType: string;
}

/** A part's heading from the parser's headers object: any form RFC 7578 allows. */
export function partHeading(headers: Record<string, string | undefined>): PartHeading {
  const disposition = headers["content-disposition"] ?? "";
  return { name: partName(disposition), mediaType: mediaTypeOf(headers["content-type"]) ?? (FILENAME.test(disposition) ? "application/octet-stream" : "text/plain") };
}

/**
 * The headers exactly as the SDK's FormData writes every part (`Content-Disposition: form-data;
 * name="…"; filename="…"` then `Content-Type: <type>[; params]`, nothing else), read with one
 * regular expression from the header text; null for any other form, which `partHeading` reads.
 * Building the parser's frozen headers object and reading it was most of a part's time in the
 * parser. Where it answers, it answers as `partHeading` does (a
 * property test checks it): the name has no quote, backslash or line break to unescape or cut,
 * the media type is lower case already.
 */
const SDK_HEADING = /^Content-Disposition: form-data; name="([^"\\\r\n\u2028\u2029]*)"(?:; filename="[^"\\\r\n\u2028\u2029]*")?\r\nContent-Type: ([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)(?:;[^\r\n\u2028\u2029]*)?$/;
export function sdkPartHeading(headerText: string): PartHeading | null {
  const m = SDK_HEADING.exec(headerText);
  return m ? { name: m[1], mediaType: m[2]! } : null;
}

/** The parser's refusals as the API's sentences: sizes are 413, the rest malformed (400). */
function asRequestError(error: unknown, maxBytes: number): unknown {
  if (error instanceof RequestError) return error;
  if (error instanceof MaxFileSizeExceededError || error instanceof MaxTotalSizeExceededError) return new BodyTooLargeError(maxBytes);
  if (error instanceof MaxHeaderSizeExceededError) return new RequestError(400, { error: "a part's headers are longer than 8 KiB; nothing was published" });
  if (error instanceof MaxPartsExceededError) return new RequestError(400, { error: `the body has more than ${MAX_PARTS} parts; split it; nothing was published` });
  if (error instanceof MultipartParseError) return new RequestError(400, { error: `the multipart body is malformed: ${error.message}; nothing was published` });
  return error;
}

function sentRunOf(parts: RunParts, key: string): SentRun {
  let sent = parts.sent.get(key);
  if (!sent) parts.sent.set(key, (sent = { overlaps: false, headIdMatches: false, fields: new Map(), fieldBytes: new Map() }));
  return sent;
}

/**
 * A part's name cut at its dots as `name.split(".")` would (`kind.id.field…`), without an array
 * and a string per segment: `tail` is all after the second dot, `field` its first segment.
 */
export function nameSegments(name: string): { kind: string; id?: string; field?: string; tail?: string } {
  const first = name.indexOf(".");
  if (first < 0) return { kind: name };
  const second = name.indexOf(".", first + 1);
  if (second < 0) return { kind: name.slice(0, first), id: name.slice(first + 1) };
  const tail = name.slice(second + 1);
  const third = tail.indexOf(".");
  return { kind: name.slice(0, first), id: name.slice(first + 1, second), field: third < 0 ? tail : tail.slice(0, third), tail };
}

function attachmentNamed(files: readonly StoredAttachment[], name: string): StoredAttachment | undefined {
  for (const f of files) if (f.name === name) return f;
  return undefined;
}

/**
 * One part, by its name (see langsmith-sdk.md): merged into its run, or feedback, or an
 * attachment. `feedbackTexts`: each feedback part's text so far (runs keep theirs in `sent`).
 */
function onPart(parts: RunParts, feedbackTexts: Map<string, string>, name: string | undefined, content: Buffer, contentType: string): void {
  const size = content.length;
  if (!name) throw new RequestError(400, { error: "a part has no name (parts are post.<run id>, patch.<run id>, post.<run id>.<field>, attachment.<run id>.<name>, feedback.<id>); nothing was published" });
  const { kind, id, field, tail } = nameSegments(name);
  if (kind === "attachment" && id && field) {
    const files = parts.attachments.get(id) ?? [];
    const base64 = content.toString("base64");
    if (isRepeat(name, attachmentNamed(files, tail!)?.content_base64, base64)) return;
    files.push({ name: tail!, content_type: contentType, size, content_base64: base64 });
    parts.attachmentBytes.set(id, (parts.attachmentBytes.get(id) ?? 0) + size);
    parts.attachments.set(id, files);
    return;
  }
  const text = content.toString("utf8");
  if ((kind === "post" || kind === "patch") && id && field === tail) {
    const runs = kind === "post" ? parts.posts : parts.patches;
    const sent = sentRunOf(parts, `${kind}.${id}`);
    if (field === undefined) {
      if (isRepeat(name, sent.head, text)) return;
      const run = json(name, text);
      if (typeof run !== "object" || run === null || Array.isArray(run)) throw new RequestError(400, { error: `part ${JSON.stringify(name)} must be a JSON object (a run); nothing was published` });
      const own = run as Record<string, unknown>;
      if (own.id !== undefined && own.id !== id) throw new RequestError(400, { error: `part ${JSON.stringify(name)} carries id ${JSON.stringify(own.id)}; a part's id is the one in its name; nothing was published` });
      sent.head = text;
      sent.headIdMatches = own.id === id;
      for (const f of sent.fields.keys()) if (f in own) sent.overlaps = true;
      // Fields sent as parts of their own win over the same fields inside the run's part.
      runs.set(id, Object.assign(own, runs.get(id), { id }));
      return;
    }
    if (RUN_FIELDS.has(field)) {
      if (isRepeat(name, sent.fields.get(field), text)) return;
      const value = json(name, text);
      const run = runs.get(id);
      if (sent.head !== undefined && run !== undefined && field in run && !sent.fields.has(field)) sent.overlaps = true;
      sent.fields.set(field, text);
      sent.fieldBytes.set(field, size);
      if (run) run[field] = value;
      else runs.set(id, { id, [field]: value });
      return;
    }
  }
  if (kind === "feedback" && id && field === undefined) {
    if (isRepeat(name, feedbackTexts.get(id), text)) return;
    feedbackTexts.set(id, text);
    const fb = json(name, text);
    if (typeof fb !== "object" || fb === null || Array.isArray(fb)) throw new RequestError(400, { error: `part ${JSON.stringify(name)} must be a JSON object (feedback); nothing was published` });
    const own = fb as Record<string, unknown>;
    if (own.id !== undefined && own.id !== id) throw new RequestError(400, { error: `part ${JSON.stringify(name)} carries id ${JSON.stringify(own.id)}; a part's id is the one in its name; nothing was published` });
    parts.feedback.push({ ...own, id });
    return;
  }
  throw new RequestError(400, { error: `part ${JSON.stringify(name)} is not a part of a run batch (post.<id>, patch.<id>, post.<id>.<field>, attachment.<id>.<name>, feedback.<id>); nothing was published` });
}
