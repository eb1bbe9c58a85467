import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";

import { ROOT } from "../scripts/lib/paths.js";

/** Every relative import of a source file, followed recursively. */
function importsOf(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return new Set();
  seen.add(file);
  const out = new Set<string>();
  const src = readFileSync(file, "utf8");
  for (const m of src.matchAll(/(?:import|export)[^'"]*from\s+["']([^"']+)["']/g)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) {
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts"));
      for (const s of importsOf(target, seen)) out.add(s);
    } else out.add(spec);
  }
  return out;
}

describe("SDK packaging", function () {
  it("the client and core entry points use no Node-only module (a browser can prove)", function () {
    for (const entry of ["sdk/client/index.ts", "sdk/core/index.ts"]) {
      const specs = [...importsOf(path.join(ROOT, entry))];
      const nodeOnly = specs.filter(
        (s) => s.startsWith("node:") || ["fs", "path", "crypto", "os", "ioredis", "express"].includes(s),
      );
      expect(nodeOnly, entry).to.deep.equal([]);
    }
  });

  it("every subpath export is built ESM with types and loads in plain Node (no TypeScript loader)", function () {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      name: string;
      exports: Record<string, { types: string; import: string }>;
    };
    if (!existsSync(path.join(ROOT, "dist"))) execFileSync("npx", ["tsc", "-p", "tsconfig.sdk.json"], { cwd: ROOT });
    for (const [sub, target] of Object.entries(pkg.exports)) {
      expect(existsSync(path.join(ROOT, target.types)), `${sub} types`).to.equal(true);
      expect(existsSync(path.join(ROOT, target.import)), `${sub} js`).to.equal(true);
    }
    // Import each entry point by its package name, as a user would, in a fresh plain Node.
    const script = Object.keys(pkg.exports)
      .map(
        (sub) =>
          `const m${sub.slice(2)} = await import("${pkg.name}/${sub.slice(2)}"); if (!Object.keys(m${sub.slice(2)}).length) throw new Error("${sub} is empty");`,
      )
      .join("\n");
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", `${script}\nconsole.log("ok")`], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(out.trim()).to.equal("ok");
    expect(readdirSync(path.join(ROOT, "dist"))).to.include.members([
      "client",
      "server",
      "facilitator",
      "express",
      "node",
      "core",
    ]);
  });
});
