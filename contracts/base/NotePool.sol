// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { INotePool } from "../interfaces/INotePool.sol";
import { LeanIncrementalTree } from "../libraries/LeanIncrementalTree.sol";

/// @title NotePool
/// @notice State base of the shielded pool: the note trees, the queue of leaves waiting
/// to be committed to them, the root history and the nullifiers (which double as
/// receipts). Entry points (deposits, payments, batches) live in contracts built on it.
///
/// ## Leaves: appended now, committed in batches
/// A leaf gets its global index when it is appended (`LeafInserted` is emitted then), but
/// is hashed into a tree later, together with the leaves queued after it: k leaves cost
/// about k + depth Poseidon hashes in one batch, instead of about depth / 2 each one by
/// one, and a payment's own gas no longer depends on the tree. Committing is permission-
/// less (`commitPendingLeaves`), and deposits and batched payments commit everything
/// queued as part of their own call, so a leaf never depends on one party to become
/// spendable. A note can be spent once the leaf is committed.
///
/// ## Trees: a sequence, each of 2^treeLevels leaves
/// Global leaf g lives in tree g >> treeLevels. When a tree is full its root is kept for
/// ever (`finalRoot`) and the next leaf starts a new, empty tree, so the capacity of the
/// pool is unbounded while every membership proof is a path of at most
/// LeanIncrementalTree.MAX_DEPTH (24) levels, what the payment circuit proves.
///
/// ## Storage per leaf
/// The queue and the root history are rings of slots that deploy scripts prewarm with a
/// non-zero placeholder, so writing one costs 5k gas (non-zero to non-zero) instead of
/// 22.1k for a fresh slot.
abstract contract NotePool is INotePool {
    using LeanIncrementalTree for LeanIncrementalTree.Tree;

    /// @notice Order of the BN254 scalar field: every public signal must be below it.
    uint256 internal constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Domain tag of shielded receipt digests (see `_receipts`).
    bytes32 internal constant SHIELDED_RECEIPT_TAG = keccak256("402zk.shielded-receipt.v1");

    /// @notice Placeholder written by the prewarm functions: not a field element, so
    /// never a root or a leaf, but non-zero, so a later write is a 5k update.
    uint256 internal constant SLOT_PLACEHOLDER = type(uint256).max;

    /// @inheritdoc INotePool
    uint256 public constant override LEAF_QUEUE_CAPACITY = 1024;

    /// @inheritdoc INotePool
    uint256 public constant override MAX_COMMIT_PER_CALL = 256;

    /// @notice Leaves an append commits first when it finds the queue full.
    uint256 internal constant QUEUE_FULL_COMMIT = 64;

    /// @inheritdoc INotePool
    uint256 public immutable override rootHistorySize;

    /// @inheritdoc INotePool
    uint256 public immutable override treeLevels;

    /// @dev Counters packed into one slot: every payment reads it, every append writes it.
    struct Counters {
        // Leaves appended (committed or queued): the next leaf's global index.
        uint64 leafCount;
        // Leaves committed to trees (global count): what roots cover.
        uint64 committed;
        // Index of the tree that the next committed leaf goes into.
        uint64 treeIndex;
    }

    Counters internal _counters;

    /// @dev The tree being filled (tree number `_counters.treeIndex`).
    LeanIncrementalTree.Tree internal _tree;

    /// @dev roots[committed % rootHistorySize] = root after a commit left `committed` leaves.
    mapping(uint256 slot => uint256 root) internal _roots;

    /// @dev rootSizes[slot] = the `committed` count `_roots[slot]` was recorded at. A slot
    /// is only overwritten when a commit ends at a count with its remainder, so without
    /// the size a stale root could be presented with a later size of the same remainder,
    /// in a later tree: the payment circuit's nullifier binds the tree index the contract
    /// derives from that size, so the same note would get a second nullifier (found in
    /// the #19 circuit audit, F1). The size makes each recorded root valid at exactly one
    /// size, hence in exactly one tree.
    mapping(uint256 slot => uint256 size) internal _rootSizes;

    /// @dev Root of each full tree, valid for ever.
    mapping(uint256 treeIndex => uint256 root) internal _finalRoots;

    /// @dev queue[leafIndex % LEAF_QUEUE_CAPACITY] = leaf, for leaves not yet committed.
    mapping(uint256 slot => uint256 leaf) internal _queue;

    /// @dev nullifierHash => receipt. Zero: unspent. Otherwise the block number of the
    /// payment in the top 64 bits and, below, the low 192 bits of a digest of what it
    /// paid: keccak256(abi.encode(payTo, amount, conditionHash)) for a transparent payment,
    /// keccak256(abi.encode(SHIELDED_RECEIPT_TAG, payeeCommitment, conditionHash,
    /// keccak256(payeeMemo))) for a shielded one. The first word of the first is an address
    /// (12 zero bytes on top), of the second the tag (which has none), so no digest of one
    /// kind is a digest of the other: a shielded receipt never reads as a transparent
    /// payment, nor the reverse. The shielded digest binds the payee memo that went on
    /// chain: the payee finds its note only by decrypting that memo, so a server that
    /// opened the memo shown in a request must know that this very memo was appended
    /// (the payer could otherwise show one memo and settle the same note with another).
    mapping(uint256 nullifierHash => bytes32 receipt) internal _receipts;

    /// @param rootHistorySize_ Number of past roots that stay valid for proofs.
    /// @param treeLevels_ Each tree holds 2^treeLevels_ leaves (at most 24, the circuit's depth).
    constructor(uint256 rootHistorySize_, uint256 treeLevels_) {
        // At least the current root must be accepted.
        if (rootHistorySize_ == 0) revert FacilitatorInvalidConfig("rootHistorySize is zero");
        // Deeper trees could not be proven by the circuit; zero-level trees hold one leaf
        // each, which makes every commit a rollover (allowed only to test rollovers).
        if (treeLevels_ > LeanIncrementalTree.MAX_DEPTH) revert FacilitatorInvalidConfig("treeLevels above 24");
        rootHistorySize = rootHistorySize_;
        treeLevels = treeLevels_;
    }

    // ================================================================== leaves

    /// @inheritdoc INotePool
    function commitPendingLeaves(uint256 maxLeaves) public override returns (uint256 committed) {
        // Bounded like every commit, so one call's memory and gas stay predictable.
        return _commitQueued(maxLeaves < MAX_COMMIT_PER_CALL ? maxLeaves : MAX_COMMIT_PER_CALL);
    }

    /// @inheritdoc INotePool
    function prewarmRootHistory(uint256 fromSlot, uint256 count) external override {
        _prewarm(_roots, fromSlot, count, rootHistorySize);
        _prewarm(_rootSizes, fromSlot, count, rootHistorySize);
    }

    /// @inheritdoc INotePool
    function prewarmLeafQueue(uint256 fromSlot, uint256 count) external override {
        _prewarm(_queue, fromSlot, count, LEAF_QUEUE_CAPACITY);
    }

    /// @dev Appends one leaf to the queue (committed later). Emits `LeafInserted`.
    function _append(uint256 leaf, bytes calldata memo) internal returns (uint256 index) {
        index = _enqueue(leaf);
        emit LeafInserted(index, leaf, memo);
    }

    /// @dev Writes `leaf` into the queue at the next index and counts it. A full queue
    /// must not block payments: its oldest leaves are committed first, at the appender's
    /// cost (QUEUE_FULL_COMMIT of them).
    function _enqueue(uint256 leaf) private returns (uint256 index) {
        Counters memory c = _counters;
        if (c.leafCount - c.committed >= LEAF_QUEUE_CAPACITY) {
            _commitQueued(QUEUE_FULL_COMMIT);
            c = _counters;
        }
        index = c.leafCount;
        _queue[index % LEAF_QUEUE_CAPACITY] = leaf;
        _counters.leafCount = uint64(index + 1);
    }

    /// @dev Appends `leaves` and commits them together with everything queued before them
    /// when the total fits in one commit; otherwise queues them and commits what fits.
    /// The caller emits `LeafInserted(first + i, leaves[i], memo_i)` for each.
    function _appendMany(uint256[] memory leaves) internal returns (uint256 first) {
        Counters memory c = _counters;
        first = c.leafCount;
        uint256 queued = c.leafCount - c.committed;
        uint256 total = queued + leaves.length;
        if (total <= MAX_COMMIT_PER_CALL) {
            // Straight from memory: the new leaves never touch the queue's storage.
            uint256[] memory all = new uint256[](total);
            for (uint256 i = 0; i < queued; ++i) all[i] = _queue[(c.committed + i) % LEAF_QUEUE_CAPACITY];
            for (uint256 i = 0; i < leaves.length; ++i) all[queued + i] = leaves[i];
            c.leafCount = uint64(first + leaves.length);
            _commit(c, all);
        } else {
            for (uint256 i = 0; i < leaves.length; ++i) _enqueue(leaves[i]);
            _commitQueued(MAX_COMMIT_PER_CALL);
        }
    }

    /// @dev Commits up to `maxLeaves` queued leaves, oldest first.
    function _commitQueued(uint256 maxLeaves) internal returns (uint256 n) {
        Counters memory c = _counters;
        uint256 queued = c.leafCount - c.committed;
        n = queued < maxLeaves ? queued : maxLeaves;
        if (n == 0) return 0;
        uint256[] memory leaves = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) leaves[i] = _queue[(c.committed + i) % LEAF_QUEUE_CAPACITY];
        _commit(c, leaves);
    }

    /// @dev Hashes `leaves` (the next ones after c.committed, in order) into the trees,
    /// rolling over to a new tree whenever one fills up, records the roots, and stores
    /// the counters `c` with the new committed count.
    function _commit(Counters memory c, uint256[] memory leaves) private {
        uint256 levels = treeLevels;
        uint256 capacity = 1 << levels;
        uint256 from = c.committed;
        uint256 done = 0;
        uint256 root;
        while (done < leaves.length) {
            uint256 room = capacity - _tree.size;
            uint256 take = leaves.length - done < room ? leaves.length - done : room;
            root = _tree.insertMany(leaves, done, done + take, levels);
            done += take;
            c.committed += uint64(take);
            uint256 slot = c.committed % rootHistorySize;
            _roots[slot] = root;
            _rootSizes[slot] = c.committed;
            if (_tree.size == capacity) {
                // Full: its root stays valid for ever, and the next leaf starts tree + 1.
                _finalRoots[c.treeIndex] = root;
                emit TreeCompleted(c.treeIndex, root);
                ++c.treeIndex;
                _tree.size = 0;
                _tree.depth = 0;
            }
        }
        _counters = c;
        emit LeavesCommitted(from, c.committed, root);
    }

    function _prewarm(mapping(uint256 => uint256) storage ring, uint256 fromSlot, uint256 count, uint256 size) private {
        uint256 end = fromSlot + count;
        if (end > size) end = size;
        for (uint256 i = fromSlot; i < end; ++i) {
            // Never overwrite a real value: only slots no write has reached yet.
            if (ring[i] == 0) ring[i] = SLOT_PLACEHOLDER;
        }
    }

    // ================================================================== receipts

    /// @dev Marks `nullifierHash` spent by a transparent payment, recording what it paid.
    function _spend(uint256 nullifierHash, address payTo, uint256 amount, bytes32 conditionHash) internal {
        _receipts[nullifierHash] = _packReceiptAt(uint64(block.number), payTo, amount, conditionHash);
    }

    /// @dev Marks `nullifierHash` spent by a shielded payment, recording the payee note it
    /// created, the condition it paid for and the hash of the payee memo appended with the
    /// note (neither payee nor amount is known on chain).
    function _spendShielded(
        uint256 nullifierHash,
        uint256 payeeCommitment,
        bytes32 conditionHash,
        bytes32 payeeMemoHash
    ) internal {
        _receipts[nullifierHash] = _packShieldedReceiptAt(
            uint64(block.number),
            payeeCommitment,
            conditionHash,
            payeeMemoHash
        );
    }

    /// @inheritdoc INotePool
    function checkReceipt(
        bytes32 id,
        address payTo,
        uint256 amount,
        bytes32 conditionHash
    ) external view override returns (ReceiptStatus status, uint64 paidAtBlock, uint64 currentBlock) {
        bytes32 receipt;
        (receipt, paidAtBlock, currentBlock) = _receiptOf(id);
        status = _statusOf(receipt, _packReceiptAt(paidAtBlock, payTo, amount, conditionHash));
    }

    /// @inheritdoc INotePool
    function checkShieldedReceipt(
        bytes32 id,
        uint256 payeeCommitment,
        bytes32 conditionHash,
        bytes32 payeeMemoHash
    ) external view override returns (ReceiptStatus status, uint64 paidAtBlock, uint64 currentBlock) {
        bytes32 receipt;
        (receipt, paidAtBlock, currentBlock) = _receiptOf(id);
        status = _statusOf(receipt, _packShieldedReceiptAt(paidAtBlock, payeeCommitment, conditionHash, payeeMemoHash));
    }

    /// @dev The receipt stored under `id` (zero: unspent), the block it was paid at (its top
    /// 64 bits; 0 if none) and the current block, for both receipt readers.
    function _receiptOf(bytes32 id) private view returns (bytes32 receipt, uint64 paidAtBlock, uint64 currentBlock) {
        receipt = _receipts[uint256(id)];
        paidAtBlock = uint64(uint256(receipt) >> 192);
        currentBlock = uint64(block.number);
    }

    /// @dev None for no receipt; Paid when it is the one expected (same block and digest),
    /// Mismatch otherwise.
    function _statusOf(bytes32 receipt, bytes32 expected) private pure returns (ReceiptStatus) {
        if (receipt == 0) return ReceiptStatus.None;
        return receipt == expected ? ReceiptStatus.Paid : ReceiptStatus.Mismatch;
    }

    /// @inheritdoc INotePool
    function isSpent(uint256 nullifierHash) public view override returns (bool) {
        return _receipts[nullifierHash] != 0;
    }

    function _packReceiptAt(
        uint64 blockNumber,
        address payTo,
        uint256 amount,
        bytes32 conditionHash
    ) internal pure returns (bytes32) {
        uint256 digest = uint256(uint192(uint256(keccak256(abi.encode(payTo, amount, conditionHash)))));
        return bytes32((uint256(blockNumber) << 192) | digest);
    }

    /// @dev The receipt of a shielded payment settled in block `blockNumber` (see `_receipts`).
    function _packShieldedReceiptAt(
        uint64 blockNumber,
        uint256 payeeCommitment,
        bytes32 conditionHash,
        bytes32 payeeMemoHash
    ) internal pure returns (bytes32) {
        // The tag keeps these digests apart from transparent ones; the memo hash binds the
        // on-chain payee memo (see `_receipts`).
        uint256 digest = uint256(
            uint192(uint256(keccak256(abi.encode(SHIELDED_RECEIPT_TAG, payeeCommitment, conditionHash, payeeMemoHash))))
        );
        return bytes32((uint256(blockNumber) << 192) | digest);
    }

    // ================================================================== views

    /// @inheritdoc INotePool
    function isKnownRoot(uint256 root, uint256 size) public view override returns (bool) {
        // Zero (never-written slot) and the placeholder (not a field element) are never roots.
        if (root == 0 || root >= SNARK_SCALAR_FIELD) return false;
        uint256 committed = _counters.committed;
        if (size == 0 || size > committed) return false;
        uint256 capacity = 1 << treeLevels;
        // A size that fills a tree names that tree's final root, which never expires.
        if (size % capacity == 0) return _finalRoots[size / capacity - 1] == root;
        // Otherwise the root must still be in the history, recorded at exactly this size.
        // Roots are recorded only at the sizes commits end at, so a slot may hold the root
        // of an older size with the same remainder; accepting it at `size` would place it
        // in the wrong tree (see `_rootSizes`), so the recorded size must match too.
        if (committed - size >= rootHistorySize) return false;
        uint256 slot = size % rootHistorySize;
        return _roots[slot] == root && _rootSizes[slot] == size;
    }

    /// @inheritdoc INotePool
    function currentRoot() external view override returns (uint256) {
        uint256 committed = _counters.committed;
        // Empty: slot 0 may hold the prewarm placeholder, which is not a root.
        return committed == 0 ? 0 : _roots[committed % rootHistorySize];
    }

    /// @inheritdoc INotePool
    function finalRoot(uint256 treeIndex_) external view override returns (uint256) {
        return _finalRoots[treeIndex_];
    }

    /// @inheritdoc INotePool
    function treeSize() external view override returns (uint256) {
        return _counters.committed;
    }

    /// @inheritdoc INotePool
    function leafCount() external view override returns (uint256) {
        return _counters.leafCount;
    }

    /// @inheritdoc INotePool
    function pendingLeafCount() external view override returns (uint256) {
        return _counters.leafCount - _counters.committed;
    }

    /// @inheritdoc INotePool
    function treeIndex() external view override returns (uint256) {
        return _counters.treeIndex;
    }

    /// @inheritdoc INotePool
    function treeDepth() external view override returns (uint256) {
        return _tree.depth;
    }
}
