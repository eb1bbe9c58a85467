import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { LeanIMT } from "@zk-kit/lean-imt";
import { expect } from "chai";
import { createPublicClient, createWalletClient, http, parseAbi, type Address, type PublicClient } from "viem";

import { MemoryNoteStore, type WalletState } from "../../sdk/client/store.js";
import { openTree, type SyncProgress } from "../../sdk/client/sync.js";
import { PrivateWallet } from "../../sdk/client/wallet.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { hash2 } from "../../sdk/core/poseidon.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { NoteTree } from "../../sdk/core/tree.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";
import { FileNoteStore } from "../../sdk/node/file-store.js";
import { harnessAbi, randomLeaves, startBigPool, type BigPool } from "../helpers/big-pool.js";
import { devAccount, localViemChain } from "../../scripts/lib/dev-env.js";

const LOG2_LEAVES = 16;
const NOTE = 1_000n;

describe("NoteTree: a forest of LeanIMTs", function () {
  it("matches @zk-kit/lean-imt per tree, with batched commits, rollover, serialisation and rollback", function () {
    for (const levels of [0, 1, 2, 3, 5]) {
      const cap = 2 ** levels;
      const ref: LeanIMT<bigint>[] = [];
      const tree = new NoteTree(levels);
      const leaves = randomLeaves(Math.max(8, 3 * cap + 3));
      leaves.forEach((leaf, g) => {
        if (g % cap === 0) ref.push(new LeanIMT<bigint>((a, b) => hash2(a, b)));
        ref.at(-1)!.insert(leaf);
        tree.append([leaf]);
        if (g % 3 !== 2) tree.commit(tree.leafCount); // some leaves wait in the queue
        if (tree.committedSize !== g + 1) return;
        expect(tree.root).to.equal(ref.at(-1)!.root);
        for (let i = 0; i <= g; i++) {
          const p = tree.path(i);
          const t = Math.floor(i / cap);
          const z = ref[t]!.generateProof(i % cap);
          const full = ref[t]!.size === cap;
          expect(p.root).to.equal(z.root);
          expect(p.compressedSiblings.slice(0, p.depth)).to.deep.equal(z.siblings);
          expect(p.compressedSiblings.slice(p.depth).every((s) => s === 0n)).to.equal(true);
          expect(Number(p.indices)).to.equal(z.index);
          expect(p.treeSize).to.equal(full ? (t + 1) * cap : g + 1);
        }
        if (full(ref.at(-1)!, cap)) expect(tree.finalRoot(ref.length - 1)).to.equal(ref.at(-1)!.root);
        const back = NoteTree.deserialize(tree.serialize());
        expect(back.root).to.equal(tree.root);
        expect(back.hashCount).to.be.at.most(levels);
      });
      // Rollback: a tree rolled back equals the tree that never went further.
      const short = NoteTree.from(leaves.slice(0, 5), levels);
      short.append(leaves.slice(5, 7));
      const long = NoteTree.from(leaves, levels);
      long.truncate(5, 7);
      expect(long.root).to.equal(short.root);
      expect(long.leaf(6)).to.equal(leaves[6]);
      long.commit(7);
      short.commit(7);
      expect(long.root).to.equal(short.root);
    }
    function full(t: LeanIMT<bigint>, cap: number) {
      return t.size === cap;
    }
  });

  it("refuses a path for a queued leaf", function () {
    const tree = NoteTree.from(randomLeaves(3));
    tree.append(randomLeaves(2));
    expect(tree.committedSize).to.equal(3);
    expect(tree.leafCount).to.equal(5);
    expect(() => tree.path(3)).to.throw(/queued/);
  });
});

describe(`PrivateWallet at scale (2^${LOG2_LEAVES} leaves)`, function () {
  let big: BigPool;
  let dir: string;
  let seed: `0x${string}`;
  let keys: WalletKeys;
  const opened: PrivateWallet[] = [];

  before(async function () {
    big = await startBigPool();
    dir = mkdtempSync(path.join(os.tmpdir(), "402zk-scale-"));
    seed = WalletKeys.randomSeed();
    keys = WalletKeys.fromSeed(seed);
    await big.fill(2 ** LOG2_LEAVES, { keys, count: 3, value: NOTE });
  });

  after(async function () {
    await Promise.all(opened.map((w) => w.close()));
    await big?.chain.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(
    store = new FileNoteStore(path.join(dir, "notes.json")),
    onSyncProgress?: (p: SyncProgress) => void,
  ) {
    const w = await PrivateWallet.open({
      seed,
      pool: big.pool,
      publicClient: big.publicClient,
      store,
      artifacts: defaultArtifacts(),
      sync: { auto: false },
      onSyncProgress,
    });
    opened.push(w);
    return w;
  }

  async function onchainRoot(): Promise<bigint> {
    return big.publicClient.readContract({
      address: big.pool.facilitator,
      abi: harnessAbi,
      functionName: "currentRoot",
    });
  }

  it("syncs the pool in bounded pages with progress and finds its notes", async function () {
    const pages: SyncProgress[] = [];
    const t0 = performance.now();
    const w = await open(undefined, (p) => pages.push(p));
    await w.sync();
    const ms = performance.now() - t0;
    console.log(`      first sync of ${2 ** LOG2_LEAVES} leaves: ${Math.round(ms)} ms, ${pages.length} pages`);
    expect(w.treeSize).to.equal(2 ** LOG2_LEAVES);
    expect(w.balance()).to.equal(3n * NOTE);
    expect(w.spendableNotes()).to.have.length(3);
    expect(pages.length).to.be.greaterThan(3);
    expect(pages.at(-1)!.leaves).to.equal(2 ** LOG2_LEAVES);
    // Binary tree file: 32 bytes per node, about 64 bytes per leaf.
    const size = statSync(path.join(dir, "notes.tree")).size;
    expect(size).to.be.within(64 * 2 ** LOG2_LEAVES - 32 * 20, 64 * 2 ** LOG2_LEAVES + 200);
    expect(statSync(path.join(dir, "notes.json")).size).to.be.below(10_000);
  });

  it("restarts from the persisted tree without hashing the leaves again", async function () {
    const store = new FileNoteStore(path.join(dir, "notes.json"));
    const state = (await store.load()) as WalletState;
    const t0 = performance.now();
    const tree = await openTree(state, store, 24, big.pool.deploymentBlock);
    const loadMs = performance.now() - t0;
    expect(tree.committedSize).to.equal(2 ** LOG2_LEAVES);
    expect(tree.hashCount).to.be.at.most(24); // the right edge only
    expect(tree.root).to.equal(await onchainRoot());
    expect(loadMs).to.be.below(1_000);

    const t1 = performance.now();
    const w = await open(store);
    await w.sync();
    const restartMs = performance.now() - t1;
    console.log(`      restart: tree loaded in ${Math.round(loadMs)} ms, open + sync ${Math.round(restartMs)} ms`);
    expect(w.balance()).to.equal(3n * NOTE);
    expect(restartMs).to.be.below(3_000);
  });

  it("catches up 1,000 new leaves in about a second", async function () {
    const w = await open();
    await w.sync();
    const mine = big.depositNote(keys, 3, NOTE);
    await big.append(randomLeaves(500));
    await big.append([mine.leaf], mine.memo);
    await big.append(randomLeaves(499));
    await big.commitAll();
    const t0 = performance.now();
    await w.sync();
    const ms = performance.now() - t0;
    console.log(`      catch-up of 1,000 leaves: ${Math.round(ms)} ms`);
    expect(w.treeSize).to.equal(2 ** LOG2_LEAVES + 1_000);
    expect(w.balance()).to.equal(4n * NOTE);
    expect(ms).to.be.below(2_500); // under 1 s on an idle machine
  });

  it("sees its queued notes but cannot spend them until the pool commits them", async function () {
    const w = await open();
    await w.sync();
    const committed = w.treeSize;
    const mine = big.depositNote(keys, 4, NOTE);
    await big.append(randomLeaves(3));
    await big.append([mine.leaf], mine.memo);
    await w.sync();
    expect(w.treeSize).to.equal(committed);
    expect(w.leafCount).to.equal(committed + 4);
    const queued = w.snapshot().notes.filter((n) => n.leafIndex >= w.treeSize);
    expect(queued).to.have.length(1);
    expect(w.spendableNotes().some((n) => n.leafIndex === queued[0]!.leafIndex)).to.equal(false);

    // A restart keeps the queue (persisted with the tree).
    const again = await open();
    expect(again.treeSize).to.equal(committed);
    expect(again.leafCount).to.equal(committed + 4);

    await big.commitAll();
    await again.sync();
    expect(again.treeSize).to.equal(committed + 4);
    expect(again.spendableNotes().some((n) => n.leafIndex === queued[0]!.leafIndex)).to.equal(true);
  });
});

/** JSON-RPC proxy on 127.0.0.1 that refuses eth_getLogs over `maxBlocks` blocks or `maxResults` logs. */
async function startCappingProxy(target: string, caps: { maxBlocks: number; maxResults: number }) {
  const stats = { getLogs: 0, refusedRange: 0, refusedResults: 0, broken: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const msg = JSON.parse(body) as {
          id: number;
          method: string;
          params: { fromBlock: string; toBlock: string }[];
        };
        const reply = (o: object) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, ...o }));
        };
        const forward = async () =>
          (await (
            await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body })
          ).json()) as { result?: unknown[] };
        if (msg.method === "eth_getLogs") {
          stats.getLogs++;
          if (stats.broken) return reply({ error: { code: -32603, message: "internal error: database is down" } });
          const { fromBlock, toBlock } = msg.params[0]!;
          const blocks = Number(BigInt(toBlock) - BigInt(fromBlock)) + 1;
          if (blocks > caps.maxBlocks) {
            stats.refusedRange++;
            // Base's public RPC and others
            return reply({ error: { code: -32614, message: `exceed maximum block range: ${caps.maxBlocks}` } });
          }
          const out = await forward();
          if ((out.result?.length ?? 0) > caps.maxResults) {
            stats.refusedResults++;
            // Infura's wording
            return reply({
              error: { code: -32005, message: `query returned more than ${caps.maxResults} results` },
            });
          }
          return reply({ result: out.result });
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(await forward()));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("PrivateWallet: trees of 2^2 leaves (rollover) and RPCs that cap log ranges", function () {
  let big: BigPool;
  let wallet: PrivateWallet;
  let seed: `0x${string}`;
  const erc20 = parseAbi(["function mint(address to, uint256 value)"]);

  before(async function () {
    big = await startBigPool({ treeLevels: 2 });
    seed = WalletKeys.randomSeed();
    const viemChain = localViemChain(big.pool.chainId, big.chain.url);
    const walletClient = createWalletClient({
      account: devAccount(1),
      chain: viemChain,
      transport: http(big.chain.url),
    });
    const hash = await walletClient.writeContract({
      address: big.pool.token,
      abi: erc20,
      functionName: "mint",
      args: [devAccount(1).address, 100n * NOTE],
    });
    await big.publicClient.waitForTransactionReceipt({ hash });
    wallet = await PrivateWallet.open({
      seed,
      pool: big.pool,
      publicClient: big.publicClient,
      walletClient,
      store: new MemoryNoteStore(),
      artifacts: defaultArtifacts(),
      sync: { auto: false },
    });
    // Six real deposits (the pool hashes them itself when committing): trees [0..3] and [4, 5].
    for (let i = 0; i < 6; i++) await wallet.deposit(NOTE + BigInt(i));
    await commit();
    await wallet.sync();
  });

  /** Commits the pool's queue (the contract hashes the leaves itself). */
  async function commit() {
    const hash = await big.walletClient.writeContract({
      address: big.pool.facilitator,
      abi: harnessAbi,
      functionName: "commitPendingLeaves",
      args: [100n],
      account: devAccount(0),
      chain: localViemChain(big.pool.chainId, big.chain.url),
    });
    await big.publicClient.waitForTransactionReceipt({ hash });
  }

  after(async function () {
    await wallet?.close();
    await big?.chain.close();
    await shutdownProver();
  });

  const read = (functionName: "currentRoot" | "treeSize", pc: PublicClient = big.publicClient) =>
    pc.readContract({ address: big.pool.facilitator as Address, abi: harnessAbi, functionName });

  it("proves notes of a full tree against its final root, and of the current tree against the current root", async function () {
    expect(wallet.treeSize).to.equal(6);
    const store = new MemoryNoteStore();
    const state = wallet.snapshot();
    await store.save(state);
    // The same forest the wallet holds, rebuilt here from its notes' leaves.
    const tree = NoteTree.from(
      [...state.notes].sort((a, b) => a.leafIndex - b.leafIndex).map((n) => BigInt(n.commitment)),
      2,
    );
    expect(tree.root).to.equal(await read("currentRoot"));
    const old = tree.path(1);
    expect(old.treeSize).to.equal(4);
    expect(old.root).to.equal(
      await big.publicClient.readContract({
        address: big.pool.facilitator,
        abi: harnessAbi,
        functionName: "finalRoot",
        args: [0n],
      }),
    );
    const cur = tree.path(5);
    expect(cur.treeSize).to.equal(6);
    for (const p of [old, cur]) {
      const known = await big.publicClient.readContract({
        address: big.pool.facilitator,
        abi: harnessAbi,
        functionName: "isKnownRoot",
        args: [p.root, BigInt(p.treeSize)],
      });
      expect(known).to.equal(true);
    }
    expect(wallet.balance()).to.equal(6n * NOTE + 15n);
  });

  it("pays from a note of a pool that rolled over (real proof, settled on chain)", async function () {
    // 1,000 is covered by every note; the wallet picks one, the pool checks its root.
    const p = await wallet.preparePayment({
      payTo: devAccount(5).address,
      amount: NOTE - 1n,
      expiry: BigInt(Math.floor(Date.now() / 1000) + 600),
    });
    expect([4n, 6n]).to.include(p.proof.treeSize);
    await wallet.submitPayment(p);
    await wallet.sync();
    expect(wallet.snapshot().notes.filter((n) => n.spent)).to.have.length(1);
  });

  it("syncs through an RPC that caps block ranges and result counts, halving and remembering the range", async function () {
    const proxy = await startCappingProxy(big.chain.url, { maxBlocks: 3, maxResults: 2 });
    try {
      const publicClient = createPublicClient({ transport: http(proxy.url) }) as PublicClient;
      const w = await PrivateWallet.open({
        seed,
        pool: big.pool,
        publicClient,
        store: new MemoryNoteStore(),
        artifacts: defaultArtifacts(),
        sync: { auto: false },
        logChunkSize: 10_000,
      });
      await w.sync();
      await wallet.sync();
      expect(w.treeSize).to.equal(Number(await read("treeSize")));
      expect(w.leafCount).to.equal(wallet.leafCount);
      expect(w.balance()).to.equal(wallet.balance());
      expect(proxy.stats.refusedResults + proxy.stats.refusedRange).to.be.greaterThan(0);
      const before = proxy.stats.getLogs;

      // Other errors are not range caps: they fail the sync (and leave the state as it was).
      proxy.stats.broken = true;
      const was = w.treeSize;
      await wallet.deposit(NOTE);
      await commit();
      const err = await w.sync().catch((e: unknown) => e);
      expect(String((err as Error).message ?? err)).to.match(/database is down|internal/i);
      expect(isZkPayError(err, "stale_tree")).to.equal(false);
      expect(w.treeSize).to.equal(was);
      proxy.stats.broken = false;
      await w.sync();
      expect(w.treeSize).to.equal(Number(await read("treeSize")));
      expect(w.treeSize).to.be.greaterThan(was);
      expect(proxy.stats.getLogs).to.be.greaterThan(before);
      await w.close();
    } finally {
      await proxy.close();
    }
  });
});
