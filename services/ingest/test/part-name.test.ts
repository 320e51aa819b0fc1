import fc from "fast-check";
import { expect, test } from "vitest";
import { partName } from "../src/multipart-runs";

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
