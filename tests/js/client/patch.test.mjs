// RFC 6902 conformance of tabhub.js's applyPatch: every non-disabled record
// of the public JSON Patch test suite (tests.json and spec_tests.json in the
// shared data folder), plus the client's own guarantees (no mutation of the
// input, nothing applied when an operation fails).

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { applyPatch, PatchError } from "../../../assets/tabhub.js";

const T = { timeout: 30_000 };
const suiteDir = new URL("../../../../shared/data/json-patch-tests/", import.meta.url);

function loadSuite(name) {
  const path = fileURLToPath(new URL(name, suiteDir));
  if (!existsSync(path)) {
    throw new Error(`the JSON Patch test suite is missing: ${path} (expected in the shared data folder beside the repo)`);
  }
  const records = JSON.parse(readFileSync(path, "utf8"));
  assert.ok(Array.isArray(records) && records.length > 0, `${path} holds no records`);
  return records;
}

const deepFreeze = (v) => {
  if (v !== null && typeof v === "object") {
    for (const k of Object.keys(v)) deepFreeze(v[k]);
    Object.freeze(v);
  }
  return v;
};

for (const file of ["tests.json", "spec_tests.json"]) {
  describe(`JSON Patch suite ${file}`, () => {
    const records = loadSuite(file);
    const enabled = records.filter((r) => !r.disabled);
    test(`has records to run (${enabled.length} of ${records.length} enabled)`, T, () => {
      assert.ok(enabled.length >= 10);
    });
    enabled.forEach((r, i) => {
      const name = `#${i} ${r.comment ?? JSON.stringify(r.patch).slice(0, 80)}`;
      test(name, T, () => {
        // Frozen input: any in-place mutation throws in strict mode (and
        // so fails "expected" records); the snapshot below catches the rest.
        const before = JSON.stringify(r.doc);
        const doc = deepFreeze(structuredClone(r.doc));
        if ("error" in r) {
          assert.throws(() => applyPatch(doc, r.patch), PatchError, `must fail: ${r.error}`);
        } else if ("expected" in r) {
          assert.deepStrictEqual(applyPatch(doc, r.patch), r.expected);
        } else {
          applyPatch(doc, r.patch);
        }
        assert.equal(JSON.stringify(doc), before, "the input document was mutated");
      });
    });
  });
}

describe("applyPatch guarantees", () => {
  test("a failing operation late in a patch leaves the input untouched and throws", T, () => {
    const doc = { a: [1, 2], b: { c: 1 } };
    const patch = [
      { op: "add", path: "/a/-", value: 3 },
      { op: "replace", path: "/b/c", value: 2 },
      { op: "remove", path: "/nope" },
    ];
    assert.throws(() => applyPatch(doc, patch), PatchError);
    assert.deepStrictEqual(doc, { a: [1, 2], b: { c: 1 } });
  });

  test("unchanged subtrees are shared, changed ones are new objects", T, () => {
    const doc = { keep: { x: [1] }, edit: { y: 1 } };
    const out = applyPatch(doc, [{ op: "replace", path: "/edit/y", value: 2 }]);
    assert.equal(out.keep, doc.keep);
    assert.notEqual(out.edit, doc.edit);
    assert.deepStrictEqual(out, { keep: { x: [1] }, edit: { y: 2 } });
  });

  test("a copy is independent of its source within the same patch", T, () => {
    const out = applyPatch({ a: { n: 1 } }, [
      { op: "add", path: "/a/m", value: 2 },
      { op: "copy", from: "/a", path: "/b" },
      { op: "replace", path: "/b/n", value: 9 },
    ]);
    assert.deepStrictEqual(out, { a: { n: 1, m: 2 }, b: { n: 9, m: 2 } });
  });

  test("values from the patch are not mutated by later operations", T, () => {
    const value = { list: [1] };
    const patch = [
      { op: "add", path: "/v", value },
      { op: "add", path: "/v/list/-", value: 2 },
    ];
    const out = applyPatch({}, patch);
    assert.deepStrictEqual(out, { v: { list: [1, 2] } });
    assert.deepStrictEqual(value, { list: [1] });
  });

  test("a member named __proto__ is data, not the prototype", T, () => {
    const doc = JSON.parse('{"__proto__": {"x": 1}}');
    const out = applyPatch(doc, [{ op: "add", path: "/__proto__/y", value: 2 }]);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepStrictEqual(Object.keys(out), ["__proto__"]);
    assert.equal(JSON.stringify(out), '{"__proto__":{"x":1,"y":2}}');
  });

  test("a patch that is not an array throws", T, () => {
    assert.throws(() => applyPatch({}, { op: "add" }), PatchError);
  });
});
