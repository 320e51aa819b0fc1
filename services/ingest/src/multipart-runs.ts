import { Transform, type Readable } from "node:stream";
import Busboy from "@fastify/busboy";
import type { StoredAttachment } from "@ledger/langsmith";
import { RequestError } from "./request-error";

/** What one `POST /runs/multipart` body holds, parts merged per run (see langsmith-sdk.md). */
export interface RunParts {
  posts: Map<string, Record<string, unknown>>;
  patches: Map<string, Record<string, unknown>>;
  feedback: Record<string, unknown>[];
  /** Bytes of each run's attachments (§6.2 counts them). */
  attachmentBytes: Map<string, number>;
  /** Each run's attachments, kept with the run (§8 item 4). */
  attachments: Map<string, StoredAttachment[]>;
}

const RUN_FIELDS = new Set(["inputs", "outputs", "events", "extra", "error", "serialized"]);
const tooLarge = (max: number) => new RequestError(413, { error: `request body is larger than ${max} bytes (before or after decompression); nothing was published; split it` });

function json(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, { error: `part ${JSON.stringify(name)} is not valid JSON: ${(error as Error).message}; nothing was published` });
  }
}

/**
 * Parses a multipart body as a stream with busboy: no part and no body is held beyond `maxBytes`
 * (the decoded body is counted as it flows; a larger one is refused with 413 at once).
 */
export function readRunParts(body: Readable, headers: Record<string, string | string[] | undefined>, maxBytes: number): Promise<RunParts> {
  return new Promise<RunParts>((resolve, reject) => {
    const parts: RunParts = { posts: new Map(), patches: new Map(), feedback: [], attachmentBytes: new Map(), attachments: new Map() };
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      body.unpipe();
      body.resume(); // drain what is still coming, without keeping it
      reject(error);
    };
    let busboy: ReturnType<typeof Busboy>;
    try {
      busboy = Busboy({ headers: headers as unknown as Parameters<typeof Busboy>[0]["headers"], limits: { fieldSize: maxBytes, fileSize: maxBytes, fieldNameSize: 300 } });
    } catch (error) {
      return reject(new RequestError(400, { error: `not a multipart body: ${(error as Error).message}` }));
    }
    const onPart = (name: string | undefined, content: Buffer, contentType: string) => {
      const size = content.length;
      if (!name) throw new RequestError(400, { error: "a part has no name (parts are post.<run id>, patch.<run id>, post.<run id>.<field>, attachment.<run id>.<name>, feedback.<id>); nothing was published" });
      const [kind, id, field, ...rest] = name.split(".");
      if (kind === "attachment" && id && field) {
        parts.attachmentBytes.set(id, (parts.attachmentBytes.get(id) ?? 0) + size);
        const files = parts.attachments.get(id) ?? [];
        files.push({ name: [field, ...rest].join("."), content_type: contentType, size, content_base64: content.toString("base64") });
        parts.attachments.set(id, files);
        return;
      }
      const text = content.toString("utf8");
      if ((kind === "post" || kind === "patch") && id && rest.length === 0) {
        const runs = kind === "post" ? parts.posts : parts.patches;
        if (field === undefined) {
          const run = json(name, text);
          if (typeof run !== "object" || run === null || Array.isArray(run)) throw new RequestError(400, { error: `part ${JSON.stringify(name)} must be a JSON object (a run); nothing was published` });
          runs.set(id, { ...(run as Record<string, unknown>), ...runs.get(id), id });
          return;
        }
        if (RUN_FIELDS.has(field)) {
          runs.set(id, { ...runs.get(id), id, [field]: json(name, text) });
          return;
        }
      }
      if (kind === "feedback" && id && field === undefined) {
        const fb = json(name, text);
        if (typeof fb !== "object" || fb === null || Array.isArray(fb)) throw new RequestError(400, { error: `part ${JSON.stringify(name)} must be a JSON object (feedback); nothing was published` });
        parts.feedback.push({ id, ...(fb as Record<string, unknown>) });
        return;
      }
      throw new RequestError(400, { error: `part ${JSON.stringify(name)} is not a part of a run batch (post.<id>, patch.<id>, post.<id>.<field>, attachment.<id>.<name>, feedback.<id>); nothing was published` });
    };
    busboy.on("field", (name, value, _nameTruncated, valueTruncated, _encoding, mimeType) => {
      if (failed) return;
      try {
        if (valueTruncated) throw tooLarge(maxBytes);
        onPart(name, Buffer.from(value, "utf8"), mimeType || "text/plain");
      } catch (error) {
        fail(error);
      }
    });
    // A part with a filename: an attachment, or a run or feedback part sent as a file (FormData
    // with a Blob), read like a field. Every part is within the body's cap, counted as it flows.
    busboy.on("file", (name, stream, _filename, _encoding, mimeType) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("limit", () => fail(tooLarge(maxBytes)));
      stream.on("end", () => {
        if (failed) return;
        try {
          onPart(name, Buffer.concat(chunks), mimeType || "application/octet-stream");
        } catch (error) {
          fail(error);
        }
      });
    });
    busboy.on("error", (error) => fail(new RequestError(400, { error: `the multipart body is malformed: ${(error as Error).message}; nothing was published` })));
    busboy.on("finish", () => !failed && resolve(parts));
    let seen = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > maxBytes) return done(tooLarge(maxBytes));
        done(null, chunk);
      },
    });
    counter.on("error", fail);
    body.on("error", (error) => fail((error as { statusCode?: number }).statusCode ? error : new RequestError(400, { error: `the body could not be read: ${(error as Error).message}` })));
    body.pipe(counter).pipe(busboy);
  });
}
