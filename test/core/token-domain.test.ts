import { expect } from "chai";
import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from "viem";

import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet } from "../../sdk/client/wallet.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { resolveTokenDomain } from "../../sdk/core/token-domain.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";
import { deployWithRecord } from "../../scripts/lib/deploy.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";

const BASE_SEPOLIA_USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e" as Address;

describe("token EIP-712 domain (real USDC signs with version 2)", function () {
  let chain: Awaited<ReturnType<typeof startLocalChain>>;
  const wallets: PrivateWallet[] = [];

  before(async function () {
    chain = await startLocalChain();
  });

  after(async function () {
    await Promise.all(wallets.map((w) => w.close()));
    await chain?.close();
  });

  it("deploys against a FiatToken-like token (version 2, no eip712Domain) and deposits with permit and authorization", async function () {
    // Like Base Sepolia USDC: name "USDC", version() "2", DOMAIN_SEPARATOR(), no EIP-5267.
    const fiat = await chain.ethers.deployContract("FiatTokenLike", ["USDC"]);
    await fiat.waitForDeployment();
    const { record } = await deployWithRecord(chain.ethers, "hardhat", {
      token: await fiat.getAddress(),
      rootHistorySize: 64,
    });
    expect(record.token_info.eip712Version).to.equal("2");
    expect(record.token_info.eip712Name).to.equal("USDC");

    const viemChain = localViemChain(record.chainId, chain.url);
    const publicClient = createPublicClient({
      chain: viemChain,
      transport: http(chain.url),
      pollingInterval: 50,
    }) as PublicClient;
    const account = devAccount(7);
    const walletClient = createWalletClient({ account, chain: viemChain, transport: http(chain.url) });
    // No pool.tokenDomain: the wallet reads the domain from the token itself.
    const wallet = await PrivateWallet.open({
      seed: WalletKeys.randomSeed(),
      pool: {
        chainId: record.chainId,
        facilitator: record.facilitator as Address,
        token: record.token as Address,
        deploymentBlock: record.deploymentBlock,
      },
      publicClient,
      walletClient,
      store: new MemoryNoteStore(),
      artifacts: defaultArtifacts(),
      sync: { auto: false },
    });
    wallets.push(wallet);
    await (await fiat.getFunction("mint")(account.address, 9_000n)).wait();
    await wallet.deposit(4_000n, { method: "permit" });
    await wallet.deposit(5_000n, { method: "authorization" });
    expect(wallet.balance()).to.equal(9_000n);
    expect(await fiat.getFunction("balanceOf")(record.facilitator)).to.equal(9_000n);

    // A wrong override (version "1", what the deploy script used to write) is used as given
    // and the token refuses the signature: the record's value matters.
    const wrong = await PrivateWallet.open({
      seed: WalletKeys.randomSeed(),
      pool: {
        chainId: record.chainId,
        facilitator: record.facilitator as Address,
        token: record.token as Address,
        deploymentBlock: record.deploymentBlock,
        tokenDomain: { name: "USDC", version: "1" },
      },
      publicClient,
      walletClient,
      store: new MemoryNoteStore(),
      artifacts: defaultArtifacts(),
      sync: { auto: false },
    });
    wallets.push(wrong);
    await (await fiat.getFunction("mint")(account.address, 1_000n)).wait();
    const err = await wrong.deposit(1_000n, { method: "authorization" }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
  });

  it("reads EIP-5267 where the token has it (TestUSDC: USD Coin / 1)", async function () {
    const { record } = await deployWithRecord(chain.ethers, "hardhat", { rootHistorySize: 64 });
    expect(record.token_info.eip712Name).to.equal("USD Coin");
    expect(record.token_info.eip712Version).to.equal("1");
  });

  it("falls back to @x402/evm's default assets, and an override wins", async function () {
    const reverts = async (): Promise<Hex> => {
      throw new Error("execution reverted");
    };
    const fallback = await resolveTokenDomain({ token: BASE_SEPOLIA_USDC, chainId: 84532, call: reverts });
    expect(fallback).to.deep.equal({ name: "USDC", version: "2", source: "x402-default-assets" });
    const base = await resolveTokenDomain({
      token: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
      chainId: 8453,
      call: reverts,
    });
    expect([base.name, base.version]).to.deep.equal(["USD Coin", "2"]);
    const over = await resolveTokenDomain({
      token: BASE_SEPOLIA_USDC,
      chainId: 84532,
      call: reverts,
      override: { name: "X", version: "9" },
    });
    expect(over.source).to.equal("override");
    const unknown = await resolveTokenDomain({ token: BASE_SEPOLIA_USDC, chainId: 1, call: reverts }).catch(
      (e: unknown) => e,
    );
    expect(isZkPayError(unknown, "invalid_argument")).to.equal(true);
  });
});
