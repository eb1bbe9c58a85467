// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title INotePool
/// @notice The state of 402zk's shielded pool: the note trees, the queue of leaves waiting
/// to be committed to them, the root history, and the spent nullifiers, which double as
/// payment receipts. Implemented by {NotePool}; the entry points that change notes
/// (deposits, payments) are in {IFacilitator}, which extends this interface.
///
/// A wallet syncs from this interface alone: `LeafInserted` events in order of
/// `leafIndex` rebuild the trees, `treeSize` / `currentRoot` / `isKnownRoot` say which
/// roots a proof may use, and `isSpent` says which notes are gone. Servers read receipts
/// with `checkReceipt` (transparent payments) or `checkShieldedReceipt` (shielded ones).
interface INotePool {
    // ------------------------------------------------------------------ types

    /// @notice Result of checking a receipt against what a server expects.
    enum ReceiptStatus {
        /// @dev No payment with this id (nullifier unspent).
        None,
        /// @dev Paid to the expected payee, amount and condition (transparent), or with
        /// the expected payee note and condition (shielded).
        Paid,
        /// @dev A payment with this id exists but for other terms.
        Mismatch
    }

    // ------------------------------------------------------------------ events

    /// @notice A leaf was appended to the pool: it has global index `leafIndex` (tree
    /// leafIndex >> treeLevels) and becomes part of that tree's root once committed
    /// (`LeavesCommitted`). Replaying these events in order of `leafIndex` rebuilds the
    /// trees; `memo` lets the note's owner recover it.
    /// @param leafIndex Global position of the leaf (0-based).
    /// @param commitment The note commitment.
    /// @param memo Opaque data chosen by the note's creator (an encrypted note).
    event LeafInserted(uint256 indexed leafIndex, uint256 commitment, bytes memo);

    /// @notice Leaves fromIndex .. toIndex - 1 were hashed into the trees. In a deposit or
    /// a batch it may come before the `LeafInserted` events of the leaves it covers:
    /// order leaves by `leafIndex`, never by log position.
    /// @param root Root of the tree that holds leaf toIndex - 1, after the commit.
    event LeavesCommitted(uint256 fromIndex, uint256 toIndex, uint256 root);

    /// @notice Tree `treeIndex` is full; `root` stays a valid root for ever.
    event TreeCompleted(uint256 indexed treeIndex, uint256 root);

    // ------------------------------------------------------------------ errors

    /// @notice A constructor argument is invalid.
    error FacilitatorInvalidConfig(string reason);

    // ------------------------------------------------------------------ leaves

    /// @notice Hashes up to `maxLeaves` queued leaves into the trees, oldest first. Anyone
    /// may call it (a payer who wants its change note now, a relayer between batches).
    /// @return committed Number of leaves committed.
    function commitPendingLeaves(uint256 maxLeaves) external returns (uint256 committed);

    /// @notice Like `prewarmRootHistory`, for the slots of the leaf queue.
    function prewarmLeafQueue(uint256 fromSlot, uint256 count) external;

    /// @notice Writes a placeholder into root-history slots (root and recorded size)
    /// `fromSlot` .. `fromSlot + count - 1` that no insert has reached yet, so that later
    /// inserts update a slot (5k gas) instead of creating one (22.1k). Anyone may call it;
    /// it changes no root, and the placeholder is never accepted as a root. Deploy scripts
    /// call it in batches.
    function prewarmRootHistory(uint256 fromSlot, uint256 count) external;

    // ------------------------------------------------------------------ receipts

    /// @notice Checks a receipt in one call.
    /// @param id Receipt id (nullifier hash).
    /// @param payTo Expected payee.
    /// @param amount Expected amount.
    /// @param conditionHash Expected condition.
    /// @return status None, Paid or Mismatch.
    /// @return paidAtBlock Block of the payment (0 if none).
    /// @return currentBlock Current block, to count confirmations.
    function checkReceipt(
        bytes32 id,
        address payTo,
        uint256 amount,
        bytes32 conditionHash
    ) external view returns (ReceiptStatus status, uint64 paidAtBlock, uint64 currentBlock);

    /// @notice Checks a shielded payment's receipt in one call: whether the note with
    /// nullifier hash `id` was spent to create the payee note `payeeCommitment` for
    /// `conditionHash`, appended with the payee memo whose keccak256 is `payeeMemoHash`.
    /// Only the payee (who decrypted the note's opening and recomputed its commitment) and
    /// the payer know what to ask; a transparent receipt with the same id reads as Mismatch
    /// here, and a shielded one as Mismatch in `checkReceipt`. The memo hash is part of the
    /// receipt because the payee's wallet finds its note only by decrypting the memo on
    /// chain: a payer could show a server one valid memo and settle the same note with
    /// another (a second proof, another context), leaving the payee a note it never finds.
    /// A server that opened memo M asks with keccak256(M): Paid means M went on chain.
    /// @param id Receipt id (nullifier hash).
    /// @param payeeCommitment Expected payee note commitment.
    /// @param conditionHash Expected condition.
    /// @param payeeMemoHash keccak256 of the expected payee memo (the memo the server opened).
    /// @return status None, Paid or Mismatch.
    /// @return paidAtBlock Block of the payment (0 if none).
    /// @return currentBlock Current block, to count confirmations.
    function checkShieldedReceipt(
        bytes32 id,
        uint256 payeeCommitment,
        bytes32 conditionHash,
        bytes32 payeeMemoHash
    ) external view returns (ReceiptStatus status, uint64 paidAtBlock, uint64 currentBlock);

    /// @notice Whether a nullifier hash has been spent.
    function isSpent(uint256 nullifierHash) external view returns (bool);

    // ------------------------------------------------------------------ trees and roots

    /// @notice Root of the tree holding the last committed leaf (0 while empty).
    function currentRoot() external view returns (uint256);

    /// @notice Number of leaves committed to the trees (global count, all trees).
    function treeSize() external view returns (uint256);

    /// @notice Number of leaves appended, committed or queued: the next leaf's index.
    function leafCount() external view returns (uint256);

    /// @notice Number of leaves queued and not yet committed.
    function pendingLeafCount() external view returns (uint256);

    /// @notice Index of the tree being filled.
    function treeIndex() external view returns (uint256);

    /// @notice Root of full tree `treeIndex` (0 if that tree is not full).
    function finalRoot(uint256 treeIndex) external view returns (uint256);

    /// @notice Current depth of the tree being filled.
    function treeDepth() external view returns (uint256);

    /// @notice Each tree holds 2^treeLevels leaves.
    function treeLevels() external view returns (uint256);

    /// @notice Whether `root` is a root the pool had, located by `size` (the committed
    /// leaf count when it was current). Roots are recorded at the sizes commits end at,
    /// in a ring of `rootHistorySize` slots indexed by size, and `size` must be within
    /// `rootHistorySize` LEAVES of the current count (not roots: with commits of k leaves
    /// about rootHistorySize / k distinct roots are kept). A root is accepted only with
    /// the exact size it was recorded at: the size decides the tree index the payment
    /// proof is checked against, and a note's nullifier binds it. A size that completes a
    /// tree names that tree's final root, which never expires.
    function isKnownRoot(uint256 root, uint256 size) external view returns (bool);

    /// @notice Capacity of the leaf queue: an append that finds it full commits first.
    function LEAF_QUEUE_CAPACITY() external view returns (uint256);

    /// @notice Most leaves committed by one commitPendingLeaves call, and by the commit a
    /// deposit, batch or payAndCommit makes (which may add 64 more when the queue is full).
    function MAX_COMMIT_PER_CALL() external view returns (uint256);

    /// @notice Size of the root-history ring: a root stays valid while fewer than this
    /// many leaves have been committed after it (see `isKnownRoot`).
    function rootHistorySize() external view returns (uint256);
}
