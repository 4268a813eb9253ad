// Stages the npm package `tabhub` in a directory, ready for `npm pack` or
// `npm publish`:
//
//   npm ci --prefix tests/js          # TypeScript (a devDependency there)
//   node clients/js/build.mjs target/js-package
//   npm pack target/js-package        # or: npm publish target/js-package
//
// The package is:
// - package.json: this folder's (its version is the crate's; tested by
//   tests/js_package.rs);
// - tabhub.js: assets/tabhub.js copied byte for byte, the very file the
//   server serves at /tabhub.js (nothing here keeps a copy that could drift);
// - tabhub.d.ts: generated from tabhub.js's JSDoc by tsc, with the private
//   and @internal members stripped (public-declarations.mjs): the public
//   API only;
// - react.js, vue.js, svelte.js (the subpath exports tabhub/react, ...):
//   this folder's framework bindings, which import the client as
//   "./tabhub.js", with their .d.ts from tsc too (stripped the same way);
// - README.md: this folder's;
// - LICENSE-MIT, LICENSE-APACHE: the repository root's (the package is
//   "MIT OR Apache-2.0", like the crate).
//
// Neither tabhub.js nor tabhub.d.ts is kept in this folder: `npm pack` run
// here refuses (the package.json's prepack script), so only a staged
// package can be packed. tests/js_package.rs stages, packs, installs the
// tarball into an empty project and imports it.

import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { publicDeclarations } from "./public-declarations.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const tsc = path.join(root, "tests/js/node_modules/typescript/bin/tsc");

function fail(message) {
  console.error(`clients/js/build.mjs: ${message}`);
  process.exit(1);
}

const [out, ...extra] = process.argv.slice(2);
if (!out || extra.length > 0) fail("usage: node clients/js/build.mjs <empty or new directory>");
const dir = path.resolve(out);
if (existsSync(dir) && readdirSync(dir).length > 0) fail(`${dir} is not empty`);
if (!existsSync(tsc)) fail(`${tsc} is missing: run \`npm ci --prefix tests/js\``);
mkdirSync(dir, { recursive: true });

copyFileSync(path.join(here, "package.json"), path.join(dir, "package.json"));
copyFileSync(path.join(here, "README.md"), path.join(dir, "README.md"));
copyFileSync(path.join(root, "assets/tabhub.js"), path.join(dir, "tabhub.js"));
const bindings = ["react.js", "vue.js", "svelte.js"];
for (const binding of bindings) copyFileSync(path.join(here, binding), path.join(dir, binding));
for (const license of ["LICENSE-MIT", "LICENSE-APACHE"]) {
  copyFileSync(path.join(root, license), path.join(dir, license));
}

// Declarations from the JSDoc, next to the copy. The same target and libs
// as the `tsc --checkJs --strict` check in .ci/run (which this repeats, so
// the bindings are checked too).
const args = [
  "--allowJs",
  "--declaration",
  "--emitDeclarationOnly",
  "--strict",
  "--target",
  "es2022",
  "--module",
  "es2022",
  "--moduleResolution",
  "bundler",
  "--checkJs",
  "--lib",
  "es2022,dom",
  "--outDir",
  dir,
  path.join(dir, "tabhub.js"),
  ...bindings.map((binding) => path.join(dir, binding)),
];
// The bindings' imports of "react" and "vue" resolve to tests/js's copies
// (and @types/react) through a node_modules link, there during tsc only.
const modules = path.join(dir, "node_modules");
symlinkSync(path.join(root, "tests/js/node_modules"), modules, "dir");
const run = spawnSync(process.execPath, [tsc, ...args], { stdio: "inherit" });
rmSync(modules);
if (run.error) fail(`cannot run tsc: ${run.error.message}`);
if (run.status !== 0) fail(`tsc failed (exit ${run.status ?? run.signal})`);
for (const declared of ["tabhub.d.ts", ...bindings.map((b) => b.replace(/\.js$/, ".d.ts"))]) {
  if (!existsSync(path.join(dir, declared))) fail(`tsc wrote no ${declared}`);
}
// Only the public API in every declaration file tsc wrote.
const ts = createRequire(import.meta.url)(path.join(root, "tests/js/node_modules/typescript"));
for (const name of readdirSync(dir).filter((f) => f.endsWith(".d.ts"))) {
  const file = path.join(dir, name);
  const js = path.join(dir, name.replace(/\.d\.ts$/, ".js"));
  const source = { fileName: js, text: readFileSync(js, "utf8") };
  writeFileSync(file, publicDeclarations(ts, source, { fileName: file, text: readFileSync(file, "utf8") }));
}
console.error(`clients/js/build.mjs: staged the tabhub package in ${dir}`);
