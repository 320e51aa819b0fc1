import fc from "fast-check";
import { expect, test } from "vitest";
import { Readable } from "node:stream";
import { MultipartParser } from "@remix-run/multipart-parser/node";
import { sentRunText } from "@ledger/langsmith";
import { nameSegments, partHeading, partName, readRunParts, sdkPartHeading } from "../src/routes/langsmith/multipart";
import type { RequestError } from "../src/http/request-error";

test("a part's name is read from its Content-Disposition as RFC 7578 writes it", () => {
  expect(partName('form-data; name="post.abc"; filename="blob"')).toBe("post.abc");
  expect(partName('form-data; filename="name.txt"; name="attachment.r1.name.txt"')).toBe("attachment.r1.name.txt");
  expect(partName("form-data; name=post.r2")).toBe("post.r2");
  expect(partName('form-data;name="x.y"')).toBe("x.y");
  expect(partName('form-data; name="a\\"b"')).toBe('a"b');
  expect(partName("form-data")).toBeUndefined();
  expect(partName('form-data; filename="only-a-file"')).toBeUndefined();
});

test("property: any name the SDK's FormData writes (quotes escaped) is read back", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }).filter((s) => !/[\r\n]/.test(s)), fc.boolean(), (name, withFile) => {
      const quoted = name.replace(/["\\]/g, (c) => `\\${c}`);
      const disposition = withFile ? `form-data; name="${quoted}"; filename="blob"` : `form-data; name="${quoted}"`;
      expect(partName(disposition)).toBe(name);
    }),
  );
});

const B = "zz";
const body = (parts: [string, string][], epilogue = "\r\n") => `${parts.map(([n, v]) => `--${B}\r\nContent-Disposition: form-data; name="${n}"; filename="blob"\r\nContent-Type: application/json\r\n\r\n${v}\r\n`).join("")}--${B}--${epilogue}`;
const read = (chunks: string[], max = 1_000_000) => readRunParts(Readable.from(chunks.map((c) => Buffer.from(c))), { "content-type": `multipart/form-data; boundary=${B}` }, max);

test("property: however the body is cut into chunks, the same runs come out; an epilogue is ignored", async () => {
  const text = body([["post.r1", '{"id":"r1","name":"a","run_type":"chain"}'], ["post.r1.inputs", '{"q":"x"}'], ["feedback.f1", '{"run_id":"r1","key":"k"}']]);
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 8 }), fc.constantFrom("", "\r\n", "\r\nsome epilogue\r\n"), async (cuts, epilogue) => {
      const full = text.slice(0, -2) + epilogue;
      const at = [0, ...cuts.filter((c) => c < full.length).sort((a, b) => a - b), full.length];
      const parts = await read(at.slice(1).map((end, i) => full.slice(at[i], end)));
      expect(parts.posts.get("r1")).toEqual({ id: "r1", name: "a", run_type: "chain", inputs: { q: "x" } });
      expect(parts.feedback).toEqual([{ id: "f1", run_id: "r1", key: "k" }]);
    }),
  );
});

test("a body without its close delimiter, or larger than the cap, is refused with a sentence", async () => {
  await expect(read([body([["post.r1", "{}"]]).slice(0, -8)])).rejects.toMatchObject({ status: 400 });
  await expect(read([body([["post.r1", JSON.stringify({ id: "r1", inputs: "x".repeat(500) })]])], 300)).rejects.toMatchObject({ status: 413 });
  await expect(readRunParts(Readable.from([Buffer.from("{}")]), { "content-type": "application/json" }, 1000)).rejects.toMatchObject({ status: 400 });
});

const FIELDS = ["inputs", "outputs", "extra", "events", "error", "serialized"] as const;
const jsonValue = fc.jsonValue({ maxDepth: 2 });

test("property: a run's text as sent, where kept, parses to the run the parts merge to; its fields' bytes are their parts'", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        headFields: fc.dictionary(fc.constantFrom("name", "run_type", "trace_id", ...FIELDS), jsonValue, { maxKeys: 4 }),
        headId: fc.constantFrom("r1", undefined),
        withHead: fc.boolean(),
        pretty: fc.boolean(),
        // A part name once a body (twice with other contents is refused: see below).
        fieldParts: fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELDS), jsonValue, fc.constantFrom("", " ", "  ")), { maxLength: 4, selector: ([f]) => f }),
        headFirst: fc.boolean(),
      }),
      async ({ headFields, headId, withHead, pretty, fieldParts, headFirst }) => {
        if (!withHead && fieldParts.length === 0) return; // no run at all
        const head = { ...(headId ? { id: headId } : {}), ...headFields };
        const headPart: [string, string][] = withHead ? [["post.r1", JSON.stringify(head, null, pretty ? 1 : undefined)]] : [];
        const fieldPartsText: [string, string][] = fieldParts.map(([f, v, pad]) => [`post.r1.${f}`, `${pad}${JSON.stringify(v)}${pad}`]);
        const parts = await read([body(headFirst ? [...headPart, ...fieldPartsText] : [...fieldPartsText, ...headPart])]);
        const merged = parts.posts.get("r1");
        const sent = parts.sent.get("post.r1")!;
        const text = sentRunText("r1", sent);
        if (text !== undefined) expect(JSON.parse(text)).toEqual(merged);
        // Kept in the usual case: a compact run part with its own id, fields as parts of their own.
        const overlapping = fieldParts.some(([f]) => f in head);
        if ((!withHead || (headId === "r1" && !pretty)) && !overlapping) expect(text).toBeDefined();
        // Never a key twice (a reader taking the first of two would see the run part's value).
        if (withHead && overlapping) expect(text).toBeUndefined();
        for (const [f, v, pad] of fieldParts) {
          expect(sent.fieldBytes.get(f)).toBe(Buffer.byteLength(`${pad}${JSON.stringify(v)}${pad}`));
          expect(merged![f]).toEqual(JSON.parse(JSON.stringify(v)));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("a part repeated with the same content is read once; under one name with another content, or whose JSON carries another id than its name's, it is refused", async () => {
  const refusal = (parts: [string, string][]) => read([body(parts)]).then(() => "read", (e: RequestError) => `${e.status} ${String(e.body.error)}`);
  const again = await read([body([["post.r1", '{"id":"r1","name":"a"}'], ["post.r1.inputs", '{"q":1}'], ["post.r1", '{"id":"r1","name":"a"}'], ["post.r1.inputs", '{"q":1}'], ["feedback.f1", '{"run_id":"r1"}'], ["feedback.f1", '{"run_id":"r1"}']])]);
  expect(again.posts.get("r1")).toEqual({ id: "r1", name: "a", inputs: { q: 1 } });
  expect(again.feedback).toEqual([{ id: "f1", run_id: "r1" }]);
  expect(sentRunText("r1", again.sent.get("post.r1")!)).toBe('{"id":"r1","name":"a","inputs":{"q":1}}');
  expect(await refusal([["post.r1", '{"id":"r1"}'], ["post.r1", '{"id":"r1","name":"b"}']])).toMatch(/^400 part "post\.r1" appears twice in one body with different contents/);
  expect(await refusal([["post.r1.inputs", "{}"], ["post.r1.inputs", '{"a":1}']])).toMatch(/^400 part "post\.r1\.inputs" appears twice/);
  expect(await refusal([["feedback.f1", '{"run_id":"r1"}'], ["feedback.f1", '{"run_id":"r2"}']])).toMatch(/^400 part "feedback\.f1" appears twice/);
  expect(await refusal([["post.r1", '{"id":"r2"}']])).toBe('400 part "post.r1" carries id "r2"; a part\'s id is the one in its name; nothing was published');
  expect(await refusal([["feedback.f1", '{"id":"f2","run_id":"r1"}']])).toBe('400 part "feedback.f1" carries id "f2"; a part\'s id is the one in its name; nothing was published');
  // post.r1 and patch.r1 are two parts, not one twice.
  expect(await refusal([["post.r1", '{"id":"r1"}'], ["patch.r1", '{"id":"r1"}']])).toBe("read");
});

/** The parser's own reading of a part's headers before the ledger's patch (patches/@remix-run__multipart-parser@0.16.3.patch). */
function referenceHeaders(raw: string): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const line of raw.split("\r\n")) {
    const match = line.match(/^([^:]+):(.*)/);
    if (match) {
      const name = match[1]!.trim().toLowerCase();
      const value = match[2]!.trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
  }
  return headers;
}

test("property: the patched multipart parser reads a part's headers as the unpatched one did", () => {
  const piece = fc.string({ unit: fc.constantFrom("a", "B", "-", ":", " ", "\t", "\n", "\r", "\u2028", "é", '"', ";", "="), maxLength: 12 });
  fc.assert(
    fc.property(fc.array(piece, { minLength: 1, maxLength: 5 }), (lines) => {
      // A header block never holds CRLF within a line, nor the blank line that ends it.
      const raw = lines.map((l) => l.replace(/\r(?=\n)|\r$/g, "")).filter((l) => l.length > 0).join("\r\n");
      fc.pre(raw.length > 0 && !raw.includes("\r\n\r\n") && !raw.endsWith("\r"));
      const parser = new MultipartParser("zz");
      const parts = [...parser.write(Buffer.from(`--zz\r\n${raw}\r\n\r\nbody\r\n--zz--\r\n`))];
      expect(parts).toHaveLength(1);
      expect({ ...parts[0]!.headers }).toEqual({ ...referenceHeaders(raw) });
    }),
    { numRuns: 2_000 },
  );
});

test("the SDK's part headers are read by the fast path, others by the headers object", () => {
  expect(sdkPartHeading('Content-Disposition: form-data; name="post.r1"; filename="blob"\r\nContent-Type: application/json; length=42')).toEqual({ name: "post.r1", mediaType: "application/json" });
  expect(sdkPartHeading('Content-Disposition: form-data; name="attachment.r1.a.png"\r\nContent-Type: image/png')).toEqual({ name: "attachment.r1.a.png", mediaType: "image/png" });
  expect(sdkPartHeading('content-disposition: form-data; name="post.r1"\r\nContent-Type: application/json')).toBeNull();
  expect(sdkPartHeading('Content-Disposition: form-data; name="a\\"b"\r\nContent-Type: application/json')).toBeNull();
  expect(sdkPartHeading('Content-Disposition: form-data; name="post.r1"')).toBeNull();
});

test("property: where the fast reading of a part's headers answers, it answers as the parser's headers object", () => {
  // Mostly the SDK's form, each piece sometimes another: the fast path must answer often, and
  // rightly, or leave the part to the headers object.
  const clean = fc.constantFrom("a", "Z", "0", ".", "-", " ", ";", "=", "é", "/", "+", ":");
  const special = fc.constantFrom('"', "\\", "\r", "\n", "\u2028");
  const name = fc.string({ unit: fc.oneof({ arbitrary: clean, weight: 12 }, { arbitrary: special, weight: 1 }), maxLength: 10 });
  const mostly = (usual: string, ...others: string[]) => fc.oneof({ arbitrary: fc.constant(usual), weight: 4 * others.length }, { arbitrary: fc.constantFrom(...others), weight: 1 });
  const heading = fc.tuple(
    mostly("Content-Disposition", "content-disposition", "Content-Type"),
    mostly(': form-data; name="', ':form-data; name="', ': form-data; filename="x"; name="'),
    name,
    mostly('"', '"; filename="blob"', '"; filename="a;b"', '"; filename="a\\"b"', '" ', ""),
    mostly("\r\nContent-Type: ", "\r\ncontent-type: ", "\r\nContent-Type:", "\r\nX-Other: 1\r\nContent-Type: "),
    mostly("application/json", "Application/JSON", "APPLICATION/json", "image/png", "text/plain", "application", ""),
    mostly("", "; length=5", ";x", " ;x", ";\u2028", "\n", '; a="b"'),
  );
  let fastAnswers = 0;
  fc.assert(
    fc.property(heading, (pieces) => {
      const raw = pieces.join("");
      fc.pre(!raw.includes("\r\n\r\n") && !raw.endsWith("\r") && !raw.endsWith("\r\n") && !raw.startsWith("\r\n"));
      const parts = [...new MultipartParser("zz").write(Buffer.from(`--zz\r\n${raw}\r\n\r\nbody\r\n--zz--\r\n`))];
      expect(parts).toHaveLength(1);
      expect(parts[0]!.headerText).toBe(raw);
      const fast = sdkPartHeading(parts[0]!.headerText);
      if (fast === null) return;
      fastAnswers++;
      expect(fast).toEqual(partHeading(parts[0]!.headers));
    }),
    { numRuns: 3_000 },
  );
  expect(fastAnswers).toBeGreaterThan(500);
});

test("property: a part's name is cut at its dots as split would", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", ".", "b", "é") }), (name) => {
      const [kind, id, field, ...rest] = name.split(".");
      const cut = nameSegments(name);
      expect([cut.kind, cut.id, cut.field, cut.tail]).toEqual([kind, id, field, field === undefined ? undefined : [field, ...rest].join(".")]);
      expect(cut.field === cut.tail).toBe(rest.length === 0); // no segment after the field
    }),
    { numRuns: 2_000 },
  );
});
