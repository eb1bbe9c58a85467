/**
 * Deposit screening by a sanctions-list oracle (issue #21): the pool refuses a deposit
 * when its list names the address the tokens come from or the submitter, on every
 * deposit path (approve, EIP-2612 permit, EIP-3009); no list, no screening; only the
 * escrow pool's operator can change the list; the SDK wallet's deposit gets
 * `depositor_sanctioned` and moves nothing.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { ZeroAddress, type Signer } from "ethers";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from "viem";

import { deployWithRecord } from "../../scripts/lib/deploy.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";
import { startLocalChain } from "../../scripts/lib/local-chain.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet } from "../../sdk/client/wallet.js";
import { DeploymentSchema } from "../../sdk/core/deployment.js";
import { permitTypes, receiveWithAuthorizationTypes } from "../../sdk/core/eip712.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { precommitmentOf } from "../../sdk/core/note.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";
import { USDC, deployPool, type Pool } from "../helpers/pool.js";

const { ethers, networkHelpers } = await network.create();

/** EIP-170: the largest runtime code a contract may have. */
const MAX_RUNTIME_BYTES = 24_576;

/** What one deposit sends: the pool function, and its arguments for a fresh note. */
type Method = "approve" | "permit" | "authorization";
const METHODS: Method[] = ["approve", "permit", "authorization"];

describe("Facilitator: deposits screened by a sanctions list", function () {
  /** Mints `value` to `from`, then deposits it by `method`, submitted by `submitter` (3009: anyone). */
  async function depositBy(pool: Pool, method: Method, from: Signer, value: bigint, submitter: Signer = from) {
    const fromAddr = await from.getAddress();
    await (await pool.token.mint(fromAddr, value)).wait();
    const s = pool.freshSecrets();
    const pre = precommitmentOf(s.owner, s.blinding);
    const domain = {
      name: "USD Coin",
      version: "1",
      chainId: pool.chainId,
      verifyingContract: await pool.token.getAddress(),
    };
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 600n;
    if (method === "approve") {
      await (await pool.token.connect(from).approve(pool.facilitatorAddress, value)).wait();
      return pool.facilitator.connect(from).deposit(pre, value, "0x");
    }
    if (method === "permit") {
      const nonce = await pool.token.nonces(fromAddr);
      const sig = ethers.Signature.from(
        await from.signTypedData(
          domain,
          { Permit: [...permitTypes.Permit] },
          { owner: fromAddr, spender: pool.facilitatorAddress, value, nonce, deadline },
        ),
      );
      return pool.facilitator.connect(from).depositWithPermit(pre, value, "0x", deadline, sig.v, sig.r, sig.s);
    }
    const nonce = await pool.facilitator.depositNonce(pre, "0x");
    const sig = ethers.Signature.from(
      await from.signTypedData(
        domain,
        { ReceiveWithAuthorization: [...receiveWithAuthorizationTypes.ReceiveWithAuthorization] },
        { from: fromAddr, to: pool.facilitatorAddress, value, validAfter: 0n, validBefore: deadline, nonce },
      ),
    );
    return pool.facilitator
      .connect(submitter)
      .depositWithAuthorization(fromAddr, pre, value, "0x", 0n, deadline, sig.v, sig.r, sig.s);
  }

  async function screened() {
    const list = await ethers.deployContract("MockSanctionsList");
    const pool = await deployPool(ethers, { sanctionsList: await list.getAddress() });
    return { list, pool };
  }

  async function unscreened() {
    const list = await ethers.deployContract("MockSanctionsList");
    const pool = await deployPool(ethers);
    return { list, pool };
  }

  async function escrowPool() {
    const list = await ethers.deployContract("MockSanctionsList");
    const pool = await deployPool(ethers, { escrow: true });
    const escrow = await ethers.getContractAt("FacilitatorEscrow", pool.facilitatorAddress);
    return { list, pool, escrow };
  }

  for (const method of METHODS) {
    it(`${method}: a listed address cannot deposit (nothing moves); an unlisted one can`, async function () {
      const { list, pool } = await networkHelpers.loadFixture(screened);
      const [, listed, clean] = pool.signers;
      const listedAddr = await listed!.getAddress();
      await (await list.setSanctioned(listedAddr, true)).wait();

      const leavesBefore = await pool.facilitator.leafCount();
      await expect(depositBy(pool, method, listed!, USDC(3)))
        .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorSanctionedDepositor")
        .withArgs(listedAddr);
      expect(await pool.token.balanceOf(listedAddr)).to.equal(USDC(3));
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(0n);
      expect(await pool.facilitator.leafCount()).to.equal(leavesBefore);

      await expect(depositBy(pool, method, clean!, USDC(2))).to.emit(pool.facilitator, "Deposited");
      expect(await pool.token.balanceOf(pool.facilitatorAddress)).to.equal(USDC(2));

      // Delisted: the same address deposits again (the list is read at each deposit).
      await (await list.setSanctioned(listedAddr, false)).wait();
      await expect(depositBy(pool, method, listed!, USDC(1))).to.emit(pool.facilitator, "Deposited");
    });
  }

  it("EIP-3009: a listed submitter cannot relay a clean depositor's authorization, nor a clean one a listed depositor's", async function () {
    const { list, pool } = await networkHelpers.loadFixture(screened);
    const [, alice, relayer, bob] = pool.signers;
    const relayerAddr = await relayer!.getAddress();
    await (await list.setSanctioned(relayerAddr, true)).wait();
    await expect(depositBy(pool, "authorization", alice!, USDC(2), relayer))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorSanctionedDepositor")
      .withArgs(relayerAddr);
    await (await list.setSanctioned(relayerAddr, false)).wait();
    const bobAddr = await bob!.getAddress();
    await (await list.setSanctioned(bobAddr, true)).wait();
    await expect(depositBy(pool, "authorization", bob!, USDC(2), relayer))
      .to.be.revertedWithCustomError(pool.facilitator, "FacilitatorSanctionedDepositor")
      .withArgs(bobAddr);
    await expect(depositBy(pool, "authorization", alice!, USDC(2), relayer)).to.emit(pool.facilitator, "Deposited");
  });

  it("no list configured: no screening on any path, and the pool reports none", async function () {
    const { list, pool } = await networkHelpers.loadFixture(unscreened);
    expect(await pool.facilitator.sanctionsList()).to.equal(ZeroAddress);
    const [, listed] = pool.signers;
    // Listed in a list this pool does not use: irrelevant.
    await (await list.setSanctioned(await listed!.getAddress(), true)).wait();
    for (const method of METHODS) {
      await expect(depositBy(pool, method, listed!, USDC(1))).to.emit(pool.facilitator, "Deposited");
    }
  });

  it("the plain pool fixes its list at construction (SanctionsListSet emitted), with no setter; a list must have code", async function () {
    const { list, pool } = await networkHelpers.loadFixture(screened);
    expect(await pool.facilitator.sanctionsList()).to.equal(await list.getAddress());
    const deployTx = pool.facilitator.deploymentTransaction()!;
    const receipt = await deployTx.wait();
    const set = receipt!.logs
      .map((l) => pool.facilitator.interface.parseLog(l))
      .filter((l) => l?.name === "SanctionsListSet");
    expect(set.map((l) => l!.args[0])).to.deep.equal([await list.getAddress()]);
    const functions = pool.facilitator.interface.fragments.filter((f) => f.type === "function");
    expect(functions.map((f) => (f as unknown as { name: string }).name)).to.not.include("setSanctionsList");
    // A list without code would make every deposit revert: the constructor refuses it,
    // and so does the deploy script, before sending anything.
    const eoa = (await pool.signers[7]!.getAddress()) as Address;
    const refused = await deployPool(ethers, { sanctionsList: eoa }).then(
      () => expect.fail("a pool was deployed with a list that has no code"),
      (e: Error) => e,
    );
    expect(refused.message).to.match(/has no code on this chain\. Nothing was sent/);
  });

  it("escrow pool: only the operator sets, changes or clears the list (SanctionsListSet), and deposits follow it", async function () {
    const { list, pool, escrow } = await networkHelpers.loadFixture(escrowPool);
    const [operator, listed, stranger] = pool.signers;
    expect(await escrow.operator()).to.equal(await operator!.getAddress());
    expect(await escrow.sanctionsList()).to.equal(ZeroAddress);
    const listAddr = await list.getAddress();
    await (await list.setSanctioned(await listed!.getAddress(), true)).wait();

    await expect(escrow.connect(stranger).setSanctionsList(listAddr))
      .to.be.revertedWithCustomError(escrow, "EscrowNotOperator")
      .withArgs(await stranger!.getAddress());
    await expect(escrow.connect(listed).setSanctionsList(ZeroAddress)).to.be.revertedWithCustomError(
      escrow,
      "EscrowNotOperator",
    );
    // Unscreened so far.
    await expect(depositBy(pool, "approve", listed!, USDC(1))).to.emit(pool.facilitator, "Deposited");

    await expect(escrow.connect(operator).setSanctionsList(listAddr))
      .to.emit(escrow, "SanctionsListSet")
      .withArgs(listAddr);
    expect(await escrow.sanctionsList()).to.equal(listAddr);
    await expect(depositBy(pool, "approve", listed!, USDC(1))).to.be.revertedWithCustomError(
      escrow,
      "FacilitatorSanctionedDepositor",
    );
    // An address without code is refused (it would stop every deposit).
    await expect(escrow.connect(operator).setSanctionsList(await stranger!.getAddress()))
      .to.be.revertedWithCustomError(escrow, "FacilitatorInvalidConfig")
      .withArgs("sanctions list has no code");

    await expect(escrow.connect(operator).setSanctionsList(ZeroAddress))
      .to.emit(escrow, "SanctionsListSet")
      .withArgs(ZeroAddress);
    await expect(depositBy(pool, "approve", listed!, USDC(1))).to.emit(pool.facilitator, "Deposited");
  });

  it("gas: a deposit with and without the oracle (logged); the difference is the list's calls", async function () {
    const gasOf = async (pool: Pool) => {
      const [, a] = pool.signers;
      await (await depositBy(pool, "approve", a!, USDC(1))).wait(); // warm: the queue and the token slots
      const rc = await (await depositBy(pool, "approve", a!, USDC(1))).wait();
      return rc!.gasUsed;
    };
    const without = await gasOf((await networkHelpers.loadFixture(unscreened)).pool);
    const withList = await gasOf((await networkHelpers.loadFixture(screened)).pool);
    console.log(
      `      deposit (approve) gas: ${without} without a list, ${withList} with one (+${withList - without})`,
    );
    // One cold account, one cold slot and a STATICCALL: a few thousand gas, not more.
    expect(withList > without).to.equal(true);
    expect(withList - without < 10_000n).to.equal(true);
  });

  it(`the pools stay under the ${MAX_RUNTIME_BYTES}-byte runtime limit (EIP-170)`, function () {
    for (const [file, name] of [
      ["Facilitator.sol", "Facilitator"],
      ["extensions/FacilitatorEscrow.sol", "FacilitatorEscrow"],
    ]) {
      const artifact = JSON.parse(
        readFileSync(path.join(ROOT, "artifacts", "contracts", file!, `${name}.json`), "utf8"),
      );
      const bytes = (artifact.deployedBytecode.length - 2) / 2;
      console.log(`      ${name}: ${bytes} bytes of runtime code`);
      expect(bytes, name).to.be.below(MAX_RUNTIME_BYTES);
    }
  });
});

describe("SDK wallet: a sanctioned depositor gets depositor_sanctioned", function () {
  this.timeout(120_000);
  let chain: Awaited<ReturnType<typeof startLocalChain>>;
  const wallets: PrivateWallet[] = [];

  after(async function () {
    await Promise.all(wallets.map((w) => w.close()));
    await chain?.close();
  });

  it("deploy record names the list; every deposit method of a listed account fails typed, no tokens moved; a clean account deposits", async function () {
    chain = await startLocalChain();
    const list = await chain.ethers.deployContract("MockSanctionsList");
    const listAddr = (await list.getAddress()) as Address;
    const { record, system } = await deployWithRecord(chain.ethers, "hardhat", { sanctionsList: listAddr });
    // The record names the list, and the SDK's schema keeps it.
    expect(record.sanctionsList).to.equal(listAddr);
    expect(DeploymentSchema.parse(JSON.parse(JSON.stringify(record))).sanctionsList).to.equal(listAddr);

    const viemChain = localViemChain(record.chainId, chain.url);
    const publicClient = createPublicClient({ chain: viemChain, transport: http(chain.url) }) as PublicClient;
    const pool = {
      chainId: record.chainId,
      facilitator: record.facilitator as Address,
      token: record.token as Address,
      deploymentBlock: record.deploymentBlock,
    };
    const open = async (i: number) => {
      const wallet = await PrivateWallet.open({
        seed: WalletKeys.randomSeed() as Hex,
        pool,
        publicClient,
        walletClient: createWalletClient({ account: devAccount(i), chain: viemChain, transport: http(chain.url) }),
        store: new MemoryNoteStore(),
        artifacts: defaultArtifacts(),
        sync: { auto: false },
      });
      wallets.push(wallet);
      return wallet;
    };

    const listed = devAccount(3).address;
    await (await list.setSanctioned(listed, true)).wait();
    await (await system.token.mint(listed, USDC(5))).wait();
    const wallet = await open(3);
    for (const method of METHODS) {
      const err = await wallet.deposit(USDC(1), { method }).then(
        () => expect.fail(`${method}: a sanctioned deposit went through`),
        (e: unknown) => e,
      );
      expect(isZkPayError(err, "depositor_sanctioned"), `${method}: ${String(err)}`).to.equal(true);
      expect((err as Error).message).to.include(listed);
    }
    expect(await system.token.balanceOf(listed)).to.equal(USDC(5));
    expect(await system.token.balanceOf(record.facilitator)).to.equal(0n);

    const clean = devAccount(4).address;
    await (await system.token.mint(clean, USDC(2))).wait();
    const ok = await (await open(4)).deposit(USDC(2));
    expect(ok.synced).to.equal(true);
    expect(await system.token.balanceOf(record.facilitator)).to.equal(USDC(2));
  });
});
