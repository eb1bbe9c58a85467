// @ts-check
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import { defineConfig, globalIgnores } from "eslint/config";
import ts from "typescript";
import tseslint from "typescript-eslint";

const ROOT = dirname(fileURLToPath(import.meta.url));
const SDK = join(ROOT, "sdk");

/**
 * The SDK's layering (issue #18): which other sdk/ folders each folder may import, type
 * imports included. A folder not listed here (cli) may import anything; a folder listed
 * may import itself and sdk/types (ambient declarations) besides these.
 */
const SDK_LAYERS = {
  core: [],
  client: ["core"],
  facilitator: ["core"],
  session: ["core", "client"], // its buyer side pays with the client wallet
  // The browser payer and its paywall page: the wallet and the session client, in a tab.
  browser: ["core", "client", "session"],
  node: ["core", "client", "session"], // Node-only bindings: files, workers, proxies
  server: ["core", "facilitator", "session", "node"], // the framework-neutral gate
  service: ["core", "facilitator", "node"],
  // Framework adapters: the gate and core only (axios pays, so the client side instead).
  express: ["server", "core"],
  hono: ["server", "core"],
  next: ["server", "core"],
  axios: ["client", "session", "core"],
  // `402zk mcp`'s server: the CLI's engines (payWithZk, balance, credentials, deposit) behind MCP tools.
  mcp: ["cli", "core", "client", "session", "node"],
};

/**
 * `no-restricted-imports` for the files of one sdk folder, one entry per depth: a file
 * `depth` folders below sdk/<folder>/ reaches a sibling sdk folder with exactly `depth`
 * `../`, so the pattern matches that prefix followed by any name not allowed (a new sdk
 * folder is forbidden until it is added to SDK_LAYERS); more `../` leave sdk/ and are not
 * this rule's business. The same names imported through the package (`402zk/<folder>`)
 * are forbidden as well.
 * @returns {import("eslint").Linter.Config[]}
 */
function layerRules() {
  return Object.entries(SDK_LAYERS).flatMap(([folder, allowed]) => {
    const ok = [folder, "types", ...allowed].join("|");
    const may = allowed.length
      ? `may import only ${allowed.map((a) => `sdk/${a}`).join(", ")}`
      : "may import no other sdk folder";
    const message = `sdk/${folder} ${may} (layering in eslint.config.js, #18)`;
    return [1, 2, 3, 4].map((depth) => ({
      files: [`sdk/${folder}/${"*/".repeat(depth - 1)}*.ts`],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              { regex: `^(?:\\.\\./){${depth}}(?!(?:${ok})(?:/|$))[^./]`, message },
              { regex: `^402zk/(?!(?:${ok})(?:/|$))`, message },
            ],
          },
        ],
      },
    }));
  });
}

/**
 * Import edges of every sdk/ file, type-only ones included: `import`, `import type`,
 * `export ... from`, `import("...")` types and dynamic imports, resolved as the SDK's
 * tsconfig does (`./x.js` is `./x.ts`, a folder is its index.ts). Relative imports only:
 * a cycle through a package is not the SDK's.
 * @param {string} file
 * @returns {Edge[]}
 */
function sdkImportsOf(file) {
  const text = readFileSync(file, "utf8");
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  /** @type {Edge[]} */
  const edges = [];
  const add = (/** @type {string} */ spec, /** @type {boolean} */ typeOnly) => {
    if (!spec.startsWith(".")) return;
    const base = resolve(dirname(file), spec).replace(/\.js$/, "");
    for (const candidate of [`${base}.ts`, join(base, "index.ts")]) {
      try {
        if (statSync(candidate).isFile()) return void edges.push({ to: candidate, spec, typeOnly });
      } catch {
        // not this candidate
      }
    }
  };
  const visit = (/** @type {import("typescript").Node} */ node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly || (!c.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(
        node.moduleSpecifier.text,
        node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)),
      );
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, true);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return edges;
}

/**
 * Strongly connected components (Tarjan): two files are on one import cycle iff they
 * share a component.
 * @param {string[]} files
 * @param {(v: string) => string[]} next
 * @returns {Map<string, number>}
 */
function components(files, next) {
  /** @type {Map<string, number>} */
  const scc = new Map();
  /** @type {Map<string, number>} */
  const index = new Map();
  /** @type {Map<string, number>} */
  const low = new Map();
  /** @type {string[]} */
  const stack = [];
  const onStack = new Set();
  let count = 0;
  let comp = 0;
  const strong = (/** @type {string} */ v) => {
    index.set(v, count);
    low.set(v, count++);
    stack.push(v);
    onStack.add(v);
    for (const to of next(v)) {
      if (!index.has(to)) {
        strong(to);
        low.set(v, Math.min(Number(low.get(v)), Number(low.get(to))));
      } else if (onStack.has(to)) {
        low.set(v, Math.min(Number(low.get(v)), Number(index.get(to))));
      }
    }
    if (low.get(v) === index.get(v)) {
      let w;
      do {
        w = /** @type {string} */ (stack.pop());
        onStack.delete(w);
        scc.set(w, comp);
      } while (w !== v);
      comp++;
    }
  };
  for (const f of files) if (!index.has(f)) strong(f);
  return scc;
}

/**
 * @typedef {{ to: string, spec: string, typeOnly: boolean }} Edge
 * @typedef {{ key: string, edges: Map<string, Edge[]>, all: Map<string, number>, values: Map<string, number> }} SdkGraph
 */

/** The sdk/ import graph, read once per lint run and again only when a file changed. */
let sdkGraph = /** @type {SdkGraph | undefined} */ (undefined);
/** @type {Map<string, { mtime: number, edges: Edge[] }>} */
const parsedImports = new Map();

/** @returns {SdkGraph} */
function currentSdkGraph() {
  /** @type {string[]} */
  const files = [];
  const walk = (/** @type {string} */ dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) files.push(p);
    }
  };
  walk(SDK);
  const mtimes = files.map((f) => statSync(f).mtimeMs);
  const key = files.map((f, i) => `${f}:${mtimes[i]}`).join("|");
  if (sdkGraph?.key === key) return sdkGraph;
  // Only the files that changed are parsed again (an editor's lint server lives long).
  const edges = new Map(
    files.map((f, i) => {
      const known = parsedImports.get(f);
      if (known?.mtime === mtimes[i]) return [f, known.edges];
      const fresh = sdkImportsOf(f);
      parsedImports.set(f, { mtime: Number(mtimes[i]), edges: fresh });
      return [f, fresh];
    }),
  );
  sdkGraph = {
    key,
    edges,
    // Every import, and value imports only (the cycles import-x/no-cycle already reports).
    all: components(files, (v) => (edges.get(v) ?? []).map((e) => e.to)),
    values: components(files, (v) => (edges.get(v) ?? []).filter((e) => !e.typeOnly).map((e) => e.to)),
  };
  return sdkGraph;
}

/**
 * `402zk/no-type-import-cycle`: no import cycle between sdk/ files that a type-only import
 * closes. import-x's `no-cycle` skips type imports by design (it reports the cycles of
 * value imports), but a type-only cycle still ties two files, or two layers, together.
 * Reports the import of the linted file that leads back to it, with the files of the cycle.
 * @type {import("eslint").Rule.RuleModule}
 */
const noTypeImportCycle = {
  meta: {
    type: "problem",
    docs: { description: "Forbid import cycles between sdk/ files closed by type-only imports" },
    schema: [],
    messages: { cycle: "Import cycle through a type import: {{path}}" },
  },
  create(context) {
    const file = context.physicalFilename;
    return {
      Program(program) {
        const g = currentSdkGraph();
        const mine = g.all.get(file);
        if (mine === undefined) return;
        for (const edge of g.edges.get(file) ?? []) {
          if (g.all.get(edge.to) !== mine) continue;
          // A value import on a cycle of value imports: import-x/no-cycle reports it.
          if (!edge.typeOnly && g.values.get(edge.to) === g.values.get(file)) continue;
          // Shortest way back from the imported file to this one, for the message.
          /** @type {Map<string, string | null>} */
          const prev = new Map([[edge.to, null]]);
          const queue = [edge.to];
          while (queue.length > 0 && !prev.has(file)) {
            const v = /** @type {string} */ (queue.shift());
            for (const e of g.edges.get(v) ?? []) {
              if (g.all.get(e.to) === mine && !prev.has(e.to)) {
                prev.set(e.to, v);
                queue.push(e.to);
              }
            }
          }
          /** @type {string[]} */
          const path = [];
          for (let v = /** @type {string | null | undefined} */ (file); v; v = prev.get(v)) path.unshift(v);
          const node =
            program.body.find(
              (s) =>
                (s.type === "ImportDeclaration" ||
                  s.type === "ExportNamedDeclaration" ||
                  s.type === "ExportAllDeclaration") &&
                s.source?.value === edge.spec,
            ) ?? program;
          context.report({
            node,
            messageId: "cycle",
            data: { path: [file, ...path].map((f) => relative(ROOT, f).split(sep).join("/")).join(" -> ") },
          });
        }
      },
    };
  },
};

export default defineConfig(
  globalIgnores([
    "node_modules/",
    "artifacts/",
    "cache/",
    "types/", // generated typechain bindings
    "build/",
    ".cache/",
    "coverage/",
    "dist/",
    "circuits/artifacts/",
    "bench/results.json",
    "bench/tmp/",
    "docs/api/", // npm run docs (TypeDoc)
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: {
        console: "readonly",
        process: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        fetch: "readonly",
        Response: "readonly",
        Request: "readonly",
        Headers: "readonly",
        AbortController: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        crypto: "readonly",
        structuredClone: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          args: "after-used",
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          caughtErrorsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
          ignoreRestSiblings: true,
        },
      ],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-explicit-any": "warn",
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  {
    // Mocha test files use `this` in hooks and chai's property assertions (`expect(x).to.be.true`).
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-expressions": "off",
    },
  },
  // Import boundaries between the SDK's folders (#18): the layering above, and no cycle
  // between files. import-x resolves `./x.js` to `./x.ts` through the TypeScript resolver;
  // its no-cycle follows value imports (ignoreExternal: packages are not walked) and
  // 402zk/no-type-import-cycle adds the cycles that type imports close.
  ...layerRules(),
  {
    files: ["sdk/**/*.ts"],
    plugins: { "import-x": importX, "402zk": { rules: { "no-type-import-cycle": noTypeImportCycle } } },
    settings: {
      // Without these import-x treats .ts files as unparseable and follows no import.
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/external-module-folders": ["node_modules", "node_modules/@types"],
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
    },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "402zk/no-type-import-cycle": "error",
    },
  },
);
