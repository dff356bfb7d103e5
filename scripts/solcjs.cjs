#!/usr/bin/env node
// A `solc`-compatible command line over the npm solc-js compiler, for py-solc-x.
// Why: no native solc is reachable offline, and solc-js's own CLI prints a banner line
// before its JSON and refuses --allow-paths. This answers `--version` and
// `--standard-json` (input on stdin), resolving imports from the project root and
// node_modules, and ignores path flags that do not apply to an in-memory compiler.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

function findImports(unitName) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const candidate = path.resolve(base, unitName);
    if (candidate.startsWith(base + path.sep) && fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${unitName}` };
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: findImports }));
} else {
  process.stderr.write("usage: solcjs.cjs --version | --standard-json < input.json\n");
  process.exit(2);
}
