// Builds and serves one of the framework examples (examples/react,
// examples/vue, examples/svelte): a todo list on the demo app's events
// (`add_todo {text}`, `toggle_todo {id}`), shared by every tab of the
// browser (the client token in localStorage), with the connection status.
//
//   npm ci --prefix tests/js                  # react, vue, svelte, esbuild
//   cargo run -- --allowed-origin http://127.0.0.1:5173
//   node examples/frontend.mjs react --port 5173
//   # open http://127.0.0.1:5173/?socket=ws://127.0.0.1:4000/socket
//
// The page imports the npm package as a user would (`tabhub`,
// `tabhub/react`, `tabhub/vue`, `tabhub/svelte`): this stages it with
// clients/js/build.mjs, then bundles the example with esbuild (Svelte
// components compiled by the svelte compiler) and serves the page from a
// small static server on its own origin, so the socket is cross-origin:
// tabhub must allow the page's origin (`--allowed-origin`; loopback pages
// are allowed by default). tests/frameworks/ runs these same functions.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODULES = path.join(ROOT, "tests/js/node_modules");

/** The examples: their folder under examples/ and their entry module. */
export const EXAMPLES = {
  react: { title: "React", entry: "main.jsx" },
  vue: { title: "Vue", entry: "main.js" },
  svelte: { title: "Svelte", entry: "main.js" },
};

const requireTests = createRequire(path.join(ROOT, "tests/js/package.json"));

/** A package from tests/js/node_modules (esbuild, svelte/compiler). @param {string} name */
function load(name) {
  try {
    return requireTests(name);
  } catch (err) {
    throw new Error(`cannot load ${name} from ${MODULES}: run \`npm ci --prefix tests/js\` (${err})`);
  }
}

/** An esbuild plugin compiling `.svelte` files with the svelte compiler. */
function sveltePlugin() {
  const { compile } = load("svelte/compiler");
  return {
    name: "svelte",
    /** @param {import("esbuild").PluginBuild} build */
    setup(build) {
      build.onLoad({ filter: /\.svelte$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        const { js } = compile(source, { filename: args.path, css: "injected" });
        return { contents: js.code, loader: "js", resolveDir: path.dirname(args.path) };
      });
    },
  };
}

const PAGE = (title) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>tabhub with ${title}</title>
  <link rel="icon" href="data:,">
  <style>
    body { font: 15px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; color: #1d2330; }
    [data-state] { padding: 0 .4em; border-radius: 4px; background: #fde68a; }
    [data-state="open"] { background: #bbf7d0; }
    ul { padding: 0; list-style: none; } li { padding: .2rem 0; }
    .done { text-decoration: line-through; color: #6b7280; }
    .error { color: #b42318; }
  </style>
</head>
<body>
  <div id="app"></div>
  <script type="module" src="main.js"></script>
</body>
</html>
`;

/**
 * Bundles example `name` into `outDir` (index.html, main.js): stages the
 * tabhub package in a temp dir, then esbuild resolves `tabhub/...` there
 * and the frameworks in tests/js/node_modules.
 * @param {keyof typeof EXAMPLES} name
 * @param {string} outDir
 */
export async function buildExample(name, outDir) {
  const example = EXAMPLES[name];
  if (!example) throw new Error(`no example ${JSON.stringify(name)}: one of ${Object.keys(EXAMPLES).join(", ")}`);
  const esbuild = load("esbuild");
  const staging = mkdtempSync(path.join(tmpdir(), "tabhub-frontend-"));
  try {
    const staged = path.join(staging, "node_modules/tabhub");
    const run = spawnSync(process.execPath, [path.join(ROOT, "clients/js/build.mjs"), staged], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`clients/js/build.mjs failed (${run.status ?? run.signal}):\n${run.stderr}`);
    mkdirSync(outDir, { recursive: true });
    await esbuild.build({
      entryPoints: [path.join(ROOT, "examples", name, example.entry)],
      outfile: path.join(outDir, "main.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      jsx: "automatic",
      conditions: ["svelte"],
      nodePaths: [path.join(staging, "node_modules"), MODULES],
      define: {
        "process.env.NODE_ENV": JSON.stringify("development"),
        __VUE_OPTIONS_API__: "false",
        __VUE_PROD_DEVTOOLS__: "false",
        __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
      },
      plugins: name === "svelte" ? [sveltePlugin()] : [],
      logLevel: "warning",
    });
    writeFileSync(path.join(outDir, "index.html"), PAGE(example.title));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Serves `dir`'s index.html (at `/`) and main.js on 127.0.0.1:`port` (0: a
 * free one). Resolves `{url, close}` once listening.
 * @param {string} dir
 * @param {number} [port]
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export function serveExample(dir, port = 0) {
  const files = {
    "/": ["index.html", "text/html; charset=utf-8"],
    "/main.js": ["main.js", "text/javascript; charset=utf-8"],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url ?? "/", "http://x").pathname];
    if (!file || req.method !== "GET") {
      res.writeHead(404).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": file[1], "cache-control": "no-cache" });
    res.end(readFileSync(path.join(dir, file[0])));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = /** @type {import("node:net").AddressInfo} */ (server.address());
      resolve({
        url: `http://127.0.0.1:${address.port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

// As a command: node examples/frontend.mjs <react|vue|svelte> [--port N]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [name, flag, value] = process.argv.slice(2);
  const port = flag === "--port" ? Number(value) : 5173;
  const outDir = path.join(ROOT, "target/examples", name ?? "");
  await buildExample(/** @type {keyof typeof EXAMPLES} */ (name), outDir);
  const { url } = await serveExample(outDir, port);
  console.error(`serving examples/${name} at ${url}/?socket=ws://127.0.0.1:4000/socket (Ctrl-C stops)`);
}
