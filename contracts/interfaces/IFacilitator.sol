// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import { IPaymentBatchVerifier } from "./IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "./IPaymentVerifier.sol";

/// @title IFacilitator
/// @notice Shielded pool and on-chain x402 facilitator of 402zk.
///
/// Payers deposit an ERC-20 into private notes (leaves of an on-chain Poseidon Merkle
/// tree). A payment spends one note with a Groth16 proof: it pays `amount` to the
/// payee, `fee` to the relayer that submitted it, and keeps the rest in a new private
/// change note. The proof is bound to every term of the payment through `context`, so
/// it cannot be redirected. Each payment leaves a receipt, readable in one call, that
/// a server checks before serving a paid request.
interface IFacilitator {
    // ------------------------------------------------------------------ structs

    /// @notice A Groth16 proof of the payment circuit and the public values that the
    /// caller supplies. `amount`, `fee` and `context` are not here: the contract takes
    /// them from `PaymentTerms` so that the proof can only be used with those terms.
    /// @param pA Proof point A.
    /// @param pB Proof point B, in snarkjs' Solidity coordinate order.
    /// @param pC Proof point C.
    /// @param root Merkle root the note's membership was proven against.
    /// @param treeSize Number of leaves when `root` was the current root; locates
    /// `root` in the root history in O(1).
    /// @param nullifierHash Spend tag of the note; becomes the payment's receipt id.
    /// @param changeCommitment Commitment of the change note appended to the tree.
    struct PaymentProof {
        uint256[2] pA;
        uint256[2][2] pB;
        uint256[2] pC;
        uint256 root;
        uint256 treeSize;
        uint256 nullifierHash;
        uint256 changeCommitment;
    }

    /// @notice What a payment does. All of it is bound into the proof's `context`.
    /// @param payTo Recipient of `amount`.
    /// @param amount Paid to `payTo`, in token base units.
    /// @param relayer Recipient of `fee` (whoever is paid to submit); zero if no fee.
    /// @param fee Paid to `relayer`, in token base units.
    /// @param conditionHash What the payment is for: the x402 server's challenge for one
    /// request, or zero for a plain withdrawal.
    /// @param expiry Unix time after which the payment can no longer settle.
    struct PaymentTerms {
        address payTo;
        uint256 amount;
        address relayer;
        uint256 fee;
        bytes32 conditionHash;
        uint64 expiry;
    }

    /// @notice One payment of a batch (see `payBatch`).
    struct BatchedPayment {
        PaymentProof proof;
        PaymentTerms terms;
        bytes memo;
    }

    /// @notice Why `payBatch` left a payment out.
    enum SkipReason {
        /// @dev Its note was spent already (by another transaction, or earlier in the batch).
        NullifierSpent,
        /// @dev Its expiry has passed.
        Expired,
        /// @dev Its root is not in the root history (any more).
        UnknownRoot
    }

    /// @notice Result of checking a receipt against what a server expects.
    enum ReceiptStatus {
        /// @dev No payment with this id (nullifier unspent).
        None,
        /// @dev Paid to the expected payee, amount and condition.
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

    /// @notice `payBatch` left out the payment with receipt id `id`; it paid nothing.
    /// Unauthenticated: a skipped entry's proof is never checked, so anyone can make this
    /// event appear for any id. Read it only from a transaction you submitted.
    event PaymentSkipped(bytes32 indexed id, SkipReason reason);

    /// @notice Tokens were deposited into a new note.
    /// @param depositor Address the tokens came from.
    /// @param commitment Commitment computed on chain from `value` and the precommitment.
    /// @param value Deposited amount.
    event Deposited(address indexed depositor, uint256 indexed commitment, uint256 value);

    /// @notice A note was spent to pay `payTo`.
    /// @param id Receipt id: the spent note's nullifier hash.
    /// @param amount Paid to `payTo`.
    /// @param conditionHash Condition the payment was made for (zero for a withdrawal).
    /// @param payTo Recipient of the payment.
    /// @param relayer Recipient of the fee.
    /// @param fee Paid to the relayer.
    event PaymentReceipt(
        bytes32 indexed id,
        uint256 amount,
        bytes32 indexed conditionHash,
        address indexed payTo,
        address relayer,
        uint256 fee
    );

    // ------------------------------------------------------------------ errors

    /// @notice The note with this nullifier hash was already spent.
    error FacilitatorNullifierSpent(bytes32 nullifierHash);
    /// @notice `root` is not the root recorded for `treeSize` (unknown or too old).
    error FacilitatorUnknownRoot(uint256 root, uint256 treeSize);
    /// @notice The Groth16 proof does not verify for these public signals.
    error FacilitatorInvalidProof();
    /// @notice A public input is not a canonical element of the SNARK scalar field.
    error FacilitatorInputOutOfField(uint256 input);
    /// @notice A value is above the circuit's bound (2^128 - 1).
    error FacilitatorValueTooLarge(uint256 value);
    /// @notice The payment's expiry has passed.
    error FacilitatorPaymentExpired(uint64 expiry, uint256 timestamp);
    /// @notice Paying to the zero address would burn funds.
    error FacilitatorZeroPayee();
    /// @notice A fee was set without a relayer to receive it.
    error FacilitatorFeeWithoutRelayer(uint256 fee);
    /// @notice A deposit of zero.
    error FacilitatorZeroDeposit();
    /// @notice The token moved a different amount than requested (fee-on-transfer or
    /// otherwise misbehaving token).
    error FacilitatorTransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice The memo is longer than allowed.
    error FacilitatorMemoTooLong(uint256 length, uint256 maxLength);
    /// @notice A batch must hold 1 .. max payments.
    error FacilitatorBatchSize(uint256 size, uint256 max);
    /// @notice A constructor argument is invalid.
    error FacilitatorInvalidConfig(string reason);

    // ------------------------------------------------------------------ deposits

    /// @notice Deposits `value` tokens (approved beforehand) into a new note.
    /// @param precommitment Poseidon(nullifier, secret) of the new note.
    /// @param value Amount to deposit, in token base units.
    /// @param memo Encrypted note data for recovery (see `LeafInserted`).
    /// @return commitment The new note's commitment, Poseidon1(Poseidon2(value, precommitment)).
    /// @return leafIndex The new leaf's index.
    function deposit(
        uint256 precommitment,
        uint128 value,
        bytes calldata memo
    ) external returns (uint256 commitment, uint256 leafIndex);

    /// @notice Deposits with an EIP-2612 permit in the same transaction. The tokens
    /// come from `msg.sender`. A permit already used (front-run) is tolerated when the
    /// allowance suffices.
    function depositWithPermit(
        uint256 precommitment,
        uint128 value,
        bytes calldata memo,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 commitment, uint256 leafIndex);

    /// @notice Deposits with an EIP-3009 `receiveWithAuthorization` signed by `from`,
    /// so anyone may submit it. The authorization's nonce must equal
    /// `depositNonce(precommitment, memo)`: the signature is valid for this one note,
    /// so whoever relays it cannot deposit the tokens into a note of their own.
    function depositWithAuthorization(
        address from,
        uint256 precommitment,
        uint128 value,
        bytes calldata memo,
        uint256 validAfter,
        uint256 validBefore,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 commitment, uint256 leafIndex);

    // ------------------------------------------------------------------ payments

    /// @notice Spends a note: verifies the proof against `terms`, marks the nullifier
    /// spent (which is also the receipt), queues the change note (committed by the next
    /// deposit, batch or `commitPendingLeaves`; its gas does not depend on the trees,
    /// except when it finds the queue of LEAF_QUEUE_CAPACITY leaves full: it then commits
    /// the 64 oldest first, ~1.5M gas; relayers estimate against `pending`),
    /// and pays `amount`
    /// to `terms.payTo` and `fee` to `terms.relayer`. A withdrawal is a payment to
    /// one's own address with a zero `conditionHash`. Anyone may submit.
    /// @param proof The proof and its caller-supplied public values.
    /// @param terms The payment's terms.
    /// @param memo Encrypted change-note data for recovery (bound into the proof).
    /// @return id The receipt id (the nullifier hash).
    function pay(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo
    ) external returns (bytes32 id);

    /// @notice `pay`, then commits the queue (the new change note included, up to
    /// MAX_COMMIT_PER_CALL leaves), so the change is spendable in the next block. Same
    /// checks and reverts as `pay`; costs the commit on top. For a payer that needs its
    /// change right away.
    function payAndCommit(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo
    ) external returns (bytes32 id);

    /// @notice Settles several payments in one transaction with one batched pairing
    /// check (k + 3 pairings instead of 4k; see Groth16Batch). Each payment is checked as
    /// `pay` checks it; malformed terms revert the whole batch, but a payment whose
    /// nullifier is already spent, whose expiry passed or whose root is no longer known
    /// (all of which can change between batching and inclusion) is skipped with
    /// `PaymentSkipped`, and the others settle. If any proof is invalid the batch reverts
    /// with `FacilitatorInvalidProof`. Every settled payment gets its own receipt and
    /// `PaymentReceipt`; amounts to the same address (payee or relayer) are paid in one
    /// transfer. The change notes, and every leaf queued before them, are committed in
    /// the same call (up to MAX_COMMIT_PER_CALL), so they are spendable in the next block.
    /// @return settled Number of payments settled.
    function payBatch(BatchedPayment[] calldata payments) external returns (uint256 settled);

    /// @notice Hashes up to `maxLeaves` queued leaves into the trees, oldest first. Anyone
    /// may call it (a payer who wants its change note now, a relayer between batches).
    /// @return committed Number of leaves committed.
    function commitPendingLeaves(uint256 maxLeaves) external returns (uint256 committed);

    /// @notice Like `prewarmRootHistory`, for the slots of the leaf queue.
    function prewarmLeafQueue(uint256 fromSlot, uint256 count) external;

    /// @notice Writes a placeholder into root-history slots `fromSlot` .. `fromSlot + count - 1`
    /// that no insert has reached yet, so that later inserts update a slot (5k gas)
    /// instead of creating one (22.1k). Anyone may call it; it changes no root, and the
    /// placeholder is never accepted as a root. Deploy scripts call it in batches.
    function prewarmRootHistory(uint256 fromSlot, uint256 count) external;

    // ------------------------------------------------------------------ views

    /// @notice The context the proof must commit to for these terms and memo on this
    /// chain and contract: keccak256 of all of them, reduced into the SNARK field.
    function paymentContext(PaymentTerms calldata terms, bytes calldata memo) external view returns (uint256);

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

    /// @notice Whether a nullifier hash has been spent.
    function isSpent(uint256 nullifierHash) external view returns (bool);

    /// @notice The EIP-3009 nonce that authorises a deposit into exactly this note.
    function depositNonce(uint256 precommitment, bytes calldata memo) external view returns (bytes32);

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
    /// about rootHistorySize / k distinct roots are kept; a slot may still hold a root of
    /// an older size with the same remainder, which is a real root too and is accepted).
    /// A size that completes a tree names that tree's final root, which never expires.
    function isKnownRoot(uint256 root, uint256 size) external view returns (bool);

    /// @notice Capacity of the leaf queue: an append that finds it full commits first.
    function LEAF_QUEUE_CAPACITY() external view returns (uint256);

    /// @notice Most leaves committed by one commitPendingLeaves call, and by the commit a
    /// deposit, batch or payAndCommit makes (which may add 64 more when the queue is full).
    function MAX_COMMIT_PER_CALL() external view returns (uint256);

    /// @notice Most payments in one `payBatch`.
    function MAX_BATCH_SIZE() external view returns (uint256);

    /// @notice The ERC-20 held by the pool.
    function token() external view returns (IERC20);

    /// @notice The Groth16 verifier of the payment circuit.
    function verifier() external view returns (IPaymentVerifier);

    /// @notice The batched verifier of the payment circuit (same verifying key).
    function batchVerifier() external view returns (IPaymentBatchVerifier);

    /// @notice Size of the root-history ring: a root stays valid while fewer than this
    /// many leaves have been committed after it (see `isKnownRoot`).
    function rootHistorySize() external view returns (uint256);
}
