// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import { INotePool } from "./INotePool.sol";
import { IPaymentBatchVerifier } from "./IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "./IPaymentVerifier.sol";
import { ISanctionsList } from "./ISanctionsList.sol";

/// @title IFacilitator
/// @notice Shielded pool and on-chain x402 facilitator of 402zk.
///
/// Payers deposit an ERC-20 into private notes (leaves of an on-chain Poseidon Merkle
/// tree), each owned by a key. A payment spends one note with a Groth16 proof of the
/// `payment-v2` circuit, which creates two notes: the payee's and the payer's change.
/// It comes in two modes, chosen by `terms.payTo`:
///
/// - **Transparent** (`payTo != 0`, x402 scheme `zk-exact`): the pool pays `amount` to
///   `payTo` in public; the proof's payee note is worthless (the circuit forces its value
///   to zero when `amount != 0`) and is not appended.
/// - **Shielded** (`payTo == 0`, x402 scheme `zk-shielded`): nothing leaves the pool for
///   the payee; `amount` must be 0, and the payee note (its value is the price, its owner
///   the payee's key) is appended to the tree with `payeeMemo`, the note's opening
///   encrypted to the payee. No event or receipt names the payee or the amount.
///
/// Both pay `fee` to the relayer that submitted the payment and keep the rest in the
/// change note. The proof is bound to every term of the payment and to both memos through
/// `context`, so it cannot be redirected. Each payment leaves a receipt, readable in one
/// call (`checkReceipt` or `checkShieldedReceipt`), that a server checks before serving a
/// paid request.
///
/// This interface holds the entry points that move value (deposits, payments) and their
/// types, events and errors; the pool's state (trees, leaf queue, roots, receipts) and
/// its views are in {INotePool}, which it extends. A contract that extends the
/// Facilitator may send a transparent payee's `amount` elsewhere (escrow) through its
/// internal `_payout` hook; receipts and the relayer's fee stay as described. The hook
/// is not called for shielded payments: their payee's value stays in the pool as the
/// payee note.
interface IFacilitator is INotePool {
    // ------------------------------------------------------------------ structs

    /// @notice A Groth16 proof of the payment circuit and the public values that the
    /// caller supplies. `amount`, `fee` and `context` are not here: the contract takes
    /// them from `PaymentTerms` so that the proof can only be used with those terms; nor
    /// is the spent note's tree index, which the contract derives from `treeSize`.
    /// @param pA Proof point A.
    /// @param pB Proof point B, in snarkjs' Solidity coordinate order.
    /// @param pC Proof point C.
    /// @param root Merkle root the note's membership was proven against.
    /// @param treeSize Number of leaves when `root` was the current root; locates
    /// `root` in the root history in O(1).
    /// @param nullifierHash Spend tag of the note; becomes the payment's receipt id.
    /// @param payeeCommitment Commitment of the payee note: appended to the tree for a
    /// shielded payment, ignored (a zero-value note) for a transparent one.
    /// @param changeCommitment Commitment of the change note appended to the tree.
    struct PaymentProof {
        uint256[2] pA;
        uint256[2][2] pB;
        uint256[2] pC;
        uint256 root;
        uint256 treeSize;
        uint256 nullifierHash;
        uint256 payeeCommitment;
        uint256 changeCommitment;
    }

    /// @notice What a payment does. All of it is bound into the proof's `context`.
    /// @param payTo Recipient of `amount`; the zero address makes the payment shielded
    /// (its payee is the owner of the payee note, known to no one else).
    /// @param amount Paid to `payTo`, in token base units; 0 for a shielded payment (its
    /// value is in the payee note).
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

    /// @notice One payment of a batch (see `payBatch`); each may be shielded or transparent.
    /// @param proof The proof and its caller-supplied public values.
    /// @param terms The payment's terms.
    /// @param memo The change note's memo.
    /// @param payeeMemo The payee note's memo: PAYEE_MEMO_LENGTH bytes if shielded, empty if not.
    struct BatchedPayment {
        PaymentProof proof;
        PaymentTerms terms;
        bytes memo;
        bytes payeeMemo;
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

    // ------------------------------------------------------------------ events

    /// @notice `payBatch` left out the payment with receipt id `id`; it paid nothing.
    /// Unauthenticated: a skipped entry's proof is never checked, so anyone can make this
    /// event appear for any id. Read it only from a transaction you submitted.
    event PaymentSkipped(bytes32 indexed id, SkipReason reason);

    /// @notice Tokens were deposited into a new note.
    /// @param depositor Address the tokens came from.
    /// @param commitment Commitment computed on chain from `value` and the precommitment.
    /// @param value Deposited amount.
    event Deposited(address indexed depositor, uint256 indexed commitment, uint256 value);

    /// @notice A note was spent to pay `payTo` (a transparent payment).
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

    /// @notice A note was spent to pay a shielded payee: the payee note `payeeCommitment`
    /// was appended (its `LeafInserted` carries the payee memo). Deliberately names neither
    /// the payee nor the amount nor the condition: the payee's server, which knows the
    /// note's opening, the condition and the payee memo it opened, checks
    /// `checkShieldedReceipt` (whose digest binds that memo's hash).
    /// @param id Receipt id: the spent note's nullifier hash.
    /// @param payeeCommitment Commitment of the payee note.
    /// @param relayer Recipient of the fee.
    /// @param fee Paid to the relayer (the only value that leaves the pool).
    event ShieldedPaymentReceipt(bytes32 indexed id, uint256 payeeCommitment, address relayer, uint256 fee);

    /// @notice Deposits are screened against `sanctionsList` from now on (zero: no
    /// screening). Emitted at construction when one is set, and on every change (only a
    /// pool with an operator, {IFacilitatorEscrow-setSanctionsList}, can change it).
    event SanctionsListSet(ISanctionsList indexed sanctionsList);

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
    /// @notice A shielded payment (`payTo` zero) with a non-zero public `amount`: its value
    /// belongs in the payee note, and a public amount would pay no one.
    error FacilitatorShieldedAmount(uint256 amount);
    /// @notice The payee memo has the wrong length: PAYEE_MEMO_LENGTH bytes for a shielded
    /// payment, none for a transparent one.
    error FacilitatorPayeeMemo(uint256 length);
    /// @notice A transparent payment whose payee note is not the empty note: its value
    /// would be burnt (the note is never appended) and its commitment free data.
    error FacilitatorTransparentPayeeNote(uint256 payeeCommitment);
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
    /// @notice A deposit from (or submitted by) `depositor`, an address the pool's
    /// sanctions list names: refused before any token moves.
    error FacilitatorSanctionedDepositor(address depositor);
    // ------------------------------------------------------------------ deposits

    /// @notice Deposits `value` tokens (approved beforehand) into a new note.
    /// @param precommitment Poseidon(owner, blinding) of the new note: its owner key and a
    /// blinding, opaque to the chain.
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

    /// @notice Spends a note: verifies the proof against `terms` and both memos, marks the
    /// nullifier spent (which is also the receipt) and queues the new notes (committed by
    /// the next deposit, batch or `commitPendingLeaves`; its gas does not depend on the
    /// trees, except when it finds the queue of LEAF_QUEUE_CAPACITY leaves full: it then
    /// commits the 64 oldest first, ~1.5M gas; relayers estimate against `pending`).
    ///
    /// Transparent (`terms.payTo != 0`): queues the change note, pays `amount` to
    /// `terms.payTo` (through `_payout`) and emits `PaymentReceipt`; `payeeMemo` must be
    /// empty. Shielded (`terms.payTo == 0`): `amount` must be 0 and `payeeMemo`
    /// PAYEE_MEMO_LENGTH bytes; queues the payee note (with `payeeMemo`), then the change
    /// note, and emits `ShieldedPaymentReceipt`. Both pay `fee` to `terms.relayer`. A
    /// withdrawal is a transparent payment to one's own address with a zero
    /// `conditionHash`. Anyone may submit.
    /// @param proof The proof and its caller-supplied public values.
    /// @param terms The payment's terms.
    /// @param memo Encrypted change-note data for recovery (bound into the proof).
    /// @param payeeMemo The payee note's opening encrypted to the payee (shielded), or
    /// empty (transparent); bound into the proof.
    /// @return id The receipt id (the nullifier hash).
    function pay(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external returns (bytes32 id);

    /// @notice `pay`, then commits the queue (the new change note included, up to
    /// MAX_COMMIT_PER_CALL leaves), so the change is spendable in the next block. Same
    /// checks and reverts as `pay`; costs the commit on top. For a payer that needs its
    /// change right away.
    function payAndCommit(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external returns (bytes32 id);

    /// @notice Settles several payments in one transaction with one batched pairing
    /// check (k + 3 pairings instead of 4k; see Groth16Batch). Each payment is checked as
    /// `pay` checks it; malformed terms revert the whole batch, but a payment whose
    /// nullifier is already spent, whose expiry passed or whose root is no longer known
    /// (all of which can change between batching and inclusion) is skipped with
    /// `PaymentSkipped`, and the others settle. If any proof is invalid the batch reverts
    /// with `FacilitatorInvalidProof`. Shielded and transparent payments mix freely. Every
    /// settled payment gets its own receipt and its event (`PaymentReceipt` or
    /// `ShieldedPaymentReceipt`); amounts to the same address (transparent payee or
    /// relayer) are paid in one transfer. The new notes (for each settled payment in
    /// order: its payee note if shielded, then its change note), and every leaf queued
    /// before them, are committed in the same call (up to MAX_COMMIT_PER_CALL), so they
    /// are spendable in the next block.
    /// @return settled Number of payments settled.
    function payBatch(BatchedPayment[] calldata payments) external returns (uint256 settled);

    // ------------------------------------------------------------------ views

    /// @notice The context the proof must commit to for these terms and memos on this
    /// chain and contract: uint256(keccak256(abi.encode(chainid, this, terms,
    /// keccak256(memo), keccak256(payeeMemo)))) mod p.
    function paymentContext(
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external view returns (uint256);

    /// @notice The EIP-3009 nonce that authorises a deposit into exactly this note.
    function depositNonce(uint256 precommitment, bytes calldata memo) external view returns (bytes32);

    /// @notice Length in bytes of a shielded payment's payee memo (the encrypted note:
    /// version, view tag, ephemeral key, nonce, ciphertext and tag; see
    /// sdk/core/note-encryption.ts).
    function PAYEE_MEMO_LENGTH() external view returns (uint256);

    /// @notice Most payments in one `payBatch`.
    function MAX_BATCH_SIZE() external view returns (uint256);

    /// @notice The ERC-20 held by the pool.
    function token() external view returns (IERC20);

    /// @notice The Groth16 verifier of the payment circuit.
    function verifier() external view returns (IPaymentVerifier);

    /// @notice The batched verifier of the payment circuit (same verifying key).
    function batchVerifier() external view returns (IPaymentBatchVerifier);

    /// @notice The sanctions-list oracle deposits are screened against; zero: none.
    /// Every deposit entry point refuses (`FacilitatorSanctionedDepositor`) when the list
    /// names the address the tokens come from, or `msg.sender` if that is another address.
    /// It screens the depositing address at deposit time only: not payees, withdrawals,
    /// notes already in the pool when an address is listed later, nor funds that reached
    /// the depositor through another address.
    function sanctionsList() external view returns (ISanctionsList);
}
