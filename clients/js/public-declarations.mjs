// Strips what is not the public API from the declarations tsc generates
// from a module's JSDoc: class members marked `@private` (tsc writes them
// as `private x;`) or `@internal`, and `@typedef`s marked `@internal`.
//
// tsc's own `--stripInternal` cannot do it: for JavaScript input tsc
// builds the declarations from the checker's symbols
// (`transformDeclarationsForJS`), not by walking the source's nodes, which
// is where `stripInternal` looks for the tag; so it has no effect there.
// tsc also rewrites a typedef's comment without its tags, which is why
// internal typedefs are looked up in the JavaScript source.
//
// Both files are parsed with the TypeScript API; each stripped
// declaration is cut out of the .d.ts text with its leading comment, and
// every other byte stays as tsc wrote it.

/** @typedef {typeof import("typescript")} TS */

/**
 * The tag lists of the JSDoc comments (`/** ... *\/`) just before `pos`.
 * @param {TS} ts @param {string} text @param {number} pos
 * @returns {import("typescript").JSDocTag[][]}
 */
function jsDocTagsBefore(ts, text, pos) {
  return (ts.getLeadingCommentRanges(text, pos) ?? [])
    .filter((range) => text.startsWith("/**", range.pos))
    .map((range) => [...(ts.parseIsolatedJSDocComment(text, range.pos, range.end - range.pos)?.jsDoc.tags ?? [])]);
}

/** @param {import("typescript").JSDocTag[]} tags */
const isInternal = (tags) => tags.some((tag) => tag.tagName.text === "internal");

/**
 * The names of the typedefs marked `@internal` in a JavaScript module.
 * @param {TS} ts @param {string} fileName @param {string} text
 * @returns {Set<string>}
 */
function internalTypedefs(ts, fileName, text) {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const names = new Set();
  for (const node of [...file.statements, file.endOfFileToken]) {
    for (const tags of jsDocTagsBefore(ts, text, node.pos)) {
      if (!isInternal(tags)) continue;
      for (const tag of tags) {
        if (ts.isJSDocTypedefTag(tag) && tag.name && ts.isIdentifier(tag.name)) names.add(ts.idText(tag.name));
      }
    }
  }
  return names;
}

/**
 * @param {TS} ts The TypeScript API.
 * @param {{fileName: string, text: string}} source The JavaScript module.
 * @param {{fileName: string, text: string}} declarations The .d.ts tsc wrote for it.
 * @returns {string} The .d.ts text without the private and internal declarations.
 */
export function publicDeclarations(ts, source, declarations) {
  const hidden = internalTypedefs(ts, source.fileName, source.text);
  const { text } = declarations;
  const file = ts.createSourceFile(declarations.fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  // A declaration's own comment is the last one before it (tsc sometimes
  // copies unrelated comments in front of it).
  const internal = (/** @type {import("typescript").Node} */ node) =>
    isInternal(jsDocTagsBefore(ts, text, node.getFullStart()).at(-1) ?? []);
  /** @type {import("typescript").Node[]} */
  const cuts = [];
  for (const statement of file.statements) {
    if (ts.isTypeAliasDeclaration(statement) && hidden.has(statement.name.text)) {
      cuts.push(statement);
    } else if (internal(statement)) {
      cuts.push(statement);
    } else if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        const isPrivate = (ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Private) !== 0;
        if (isPrivate || internal(member)) cuts.push(member);
      }
    }
  }
  let out = text;
  for (const node of cuts.reverse()) out = out.slice(0, node.getFullStart()) + out.slice(node.getEnd());
  return out;
}
