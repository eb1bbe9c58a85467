import { createRequire } from "node:module";

import hardhatToolboxMochaEthersPlugin from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";

import { mochaExitGuard } from "./test/helpers/mocha-exit-guard.js";

const require = createRequire(import.meta.url);

// No compiler download is possible offline: use the solc-js (WASM) build from the
// npm `solc` package, pinned to exactly this version in package.json.
const SOLC_VERSION = "0.8.28";
const solcPath = require.resolve("solc/soljson.js");

export default defineConfig({
  plugins: [hardhatToolboxMochaEthersPlugin],
  solidity: {
    profiles: {
      default: {
        version: SOLC_VERSION,
        path: solcPath,
        settings: {
          evmVersion: "cancun",
          optimizer: { enabled: true, runs: 10_000 },
        },
      },
    },
    // Libraries from npm are compiled only when listed here.
    npmFilesToBuild: ["poseidon-solidity/PoseidonT2.sol", "poseidon-solidity/PoseidonT3.sol"],
  },
  paths: {
    tests: { mocha: "test" },
  },
  test: {
    mocha: { timeout: 300_000, rootHooks: mochaExitGuard },
  },
  networks: {
    hardhat: {
      type: "edr-simulated",
      chainType: "l1",
    },
    localhost: {
      type: "http",
      chainType: "l1",
      url: "http://127.0.0.1:8545",
    },
    "base-sepolia": {
      type: "http",
      chainType: "op",
      chainId: 84532,
      url: configVariable("BASE_SEPOLIA_RPC_URL"),
      accounts: [configVariable("BASE_SEPOLIA_PRIVATE_KEY")],
    },
    base: {
      type: "http",
      chainType: "op",
      chainId: 8453,
      url: configVariable("BASE_RPC_URL"),
      accounts: [configVariable("BASE_PRIVATE_KEY")],
    },
  },
});
