// Hardhat 3 configuration: a second, independent build of contracts/ that must agree
// with the Python build (kpledger/compiler.py), and the Solidity tests under test/.
//
// Offline on purpose: `path` points at the npm solc-js (soljson.js, run as WASM), so
// Hardhat never downloads a compiler. The compiler settings repeat
// kpledger/compiler.py SETTINGS (minus outputSelection, which Hardhat owns);
// tests/test_build.py checks that the two builds give the same bytecode.
//
// Both built-in profiles are spelled out: for a single-version config Hardhat copies
// only `version` and `path` into the `production` profile and gives it its own
// optimizer defaults, so `hardhat build --build-profile production` would otherwise
// compile with different settings.
//
// KPLEDGER_HARDHAT_OUT (optional) moves artifacts and cache into that directory, so a
// test can build without touching the working tree.
import { createRequire } from "node:module";
import path from "node:path";

import { defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);

const compiler = {
  version: "0.8.37",
  path: require.resolve("solc/soljson.js"),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "london",
    metadata: { bytecodeHash: "ipfs" },
  },
};

const out = process.env.KPLEDGER_HARDHAT_OUT;

export default defineConfig({
  solidity: {
    profiles: {
      default: { ...compiler },
      production: { ...compiler },
    },
  },
  paths: {
    sources: "./contracts",
    tests: { solidity: "./test" },
    ...(out ? { artifacts: path.join(out, "artifacts"), cache: path.join(out, "cache") } : {}),
  },
});
