// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { IERC20Permit } from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { ReentrancyGuardTransient } from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import { IFacilitator } from "./interfaces/IFacilitator.sol";
import { IPaymentBatchVerifier } from "./interfaces/IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "./interfaces/IPaymentVerifier.sol";
import { IERC3009 } from "./interfaces/IERC3009.sol";
import { ISanctionsList } from "./interfaces/ISanctionsList.sol";
import { NotePool } from "./base/NotePool.sol";
import { PaymentSignals } from "./libraries/PaymentSignals.sol";
import { PoseidonT2 } from "poseidon-solidity/PoseidonT2.sol";
import { PoseidonT3 } from "poseidon-solidity/PoseidonT3.sol";

/// @title Facilitator
/// @notice Shielded ERC-20 pool and on-chain x402 facilitator. See {IFacilitator}.
/// @dev The entry points (deposits, `pay`, `payBatch`) on top of the pool's state in
/// {NotePool}. Storage per payment is frugal on purpose: one slot per spent nullifier
/// serves both as the double-spend flag and as the receipt a server checks, and the
/// change note costs one prewarmed queue slot until a batch commits it.
///
/// Two payment modes share one circuit and every entry point: transparent (`payTo` set:
/// the pool transfers `amount` to it) and shielded (`payTo` zero: the pool appends the
/// payee note the proof created, and only the relayer's fee leaves the pool).
///
/// Extensions that change where a transparent payee's money goes (escrow) override one
/// internal hook, {_payout}, which every settled transparent payment passes through,
/// whether it came through `pay`, `payAndCommit` or `payBatch`. Shielded payments do not
/// call it: their payee's value never leaves the pool.
contract Facilitator is IFacilitator, NotePool, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Largest value the circuit accepts (VALUE_BITS = 128).
    uint256 internal constant MAX_VALUE = type(uint128).max;

    /// @notice Longest memo accepted, in bytes.
    uint256 public constant MAX_MEMO_LENGTH = 512;

    /// @inheritdoc IFacilitator
    uint256 public constant override PAYEE_MEMO_LENGTH = 187;

    /// @notice Commitment of the empty note (value 0, owner 0, blinding 0):
    /// Poseidon1(Poseidon2(0, Poseidon2(0, 0))). Every transparent payment's payee note
    /// (see `_checkPayment`); `test/contracts/shielded.test.ts` recomputes it.
    uint256 public constant EMPTY_NOTE_COMMITMENT =
        2170678996667507150105052238634628378052531447277137768896702206548867082602;

    /// @inheritdoc IFacilitator
    uint256 public constant override MAX_BATCH_SIZE = 64;

    /// @notice Domain tag of the receipt condition of an extension's payment (see `_receiptCondition`).
    bytes32 internal constant EXTENSION_RECEIPT_TAG = keccak256("402zk.receipt.extension.v1");

    /// @notice Domain tag of deposit authorizations (EIP-3009 nonces).
    bytes32 internal constant DEPOSIT_NONCE_TAG = keccak256("402zk.deposit.v1");

    /// @inheritdoc IFacilitator
    IERC20 public immutable override token;

    /// @inheritdoc IFacilitator
    IPaymentVerifier public immutable override verifier;

    /// @inheritdoc IFacilitator
    IPaymentBatchVerifier public immutable override batchVerifier;

    /// @inheritdoc IFacilitator
    /// @dev Storage, not immutable, so that a pool with an operator (FacilitatorEscrow) can
    /// change it; the plain Facilitator has no administrator, so there it is fixed at
    /// construction. Costs every deposit one SLOAD (2.1k gas) when unset.
    ISanctionsList public override sanctionsList;

    /// @param token_ ERC-20 held by the pool (for example USDC).
    /// @param verifier_ Groth16 verifier exported from the payment circuit.
    /// @param batchVerifier_ Batched verifier generated from the same verifying key.
    /// @param rootHistorySize_ Number of past roots that stay valid for proofs.
    /// @param treeLevels_ Each tree holds 2^treeLevels_ leaves (24 in production).
    /// @param sanctionsList_ Sanctions-list oracle that deposits are screened against
    /// (for example Chainalysis'), or zero for no screening.
    constructor(
        IERC20 token_,
        IPaymentVerifier verifier_,
        IPaymentBatchVerifier batchVerifier_,
        uint256 rootHistorySize_,
        uint256 treeLevels_,
        ISanctionsList sanctionsList_
    ) NotePool(rootHistorySize_, treeLevels_) {
        // The dependencies are immutable: a zero address would brick the pool.
        if (address(token_) == address(0)) revert FacilitatorInvalidConfig("token is the zero address");
        if (address(verifier_) == address(0)) revert FacilitatorInvalidConfig("verifier is the zero address");
        if (address(batchVerifier_) == address(0)) {
            revert FacilitatorInvalidConfig("batch verifier is the zero address");
        }
        token = token_;
        verifier = verifier_;
        batchVerifier = batchVerifier_;
        if (address(sanctionsList_) != address(0)) _setSanctionsList(sanctionsList_);
    }

    // ================================================================== deposits

    /// @inheritdoc IFacilitator
    function deposit(
        uint256 precommitment,
        uint128 value,
        bytes calldata memo
    ) external override nonReentrant returns (uint256 commitment, uint256 leafIndex) {
        _screenDepositor(msg.sender);
        _pullExact(msg.sender, value);
        return _deposit(msg.sender, precommitment, value, memo);
    }

    /// @inheritdoc IFacilitator
    function depositWithPermit(
        uint256 precommitment,
        uint128 value,
        bytes calldata memo,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external override nonReentrant returns (uint256 commitment, uint256 leafIndex) {
        // The permit's owner is msg.sender: the tokens come from it.
        _screenDepositor(msg.sender);
        // A front-runner may have submitted the permit already; that only matters if
        // the allowance is now short, which the transfer below detects.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
        _pullExact(msg.sender, value);
        return _deposit(msg.sender, precommitment, value, memo);
    }

    /// @inheritdoc IFacilitator
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
    ) external override nonReentrant returns (uint256 commitment, uint256 leafIndex) {
        // The nonce commits `from`'s signature to this precommitment and memo, so a relayer
        // cannot substitute a note of its own. The token checks the signature and that
        // this contract (msg.sender there) is the payee.
        // Screened before the token is called: a refused deposit moves nothing.
        _screenDepositor(from);
        bytes32 nonce = depositNonce(precommitment, memo);
        uint256 before = token.balanceOf(address(this));
        IERC3009(address(token)).receiveWithAuthorization(
            from,
            address(this),
            value,
            validAfter,
            validBefore,
            nonce,
            v,
            r,
            s
        );
        _checkReceived(before, value);
        return _deposit(from, precommitment, value, memo);
    }

    // ================================================================== payments

    /// @inheritdoc IFacilitator
    function pay(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external override nonReentrant returns (bytes32 id) {
        return _pay(proof, terms, memo, payeeMemo, bytes32(0));
    }

    /// @inheritdoc IFacilitator
    function payAndCommit(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external override nonReentrant returns (bytes32 id) {
        id = _pay(proof, terms, memo, payeeMemo, bytes32(0));
        // The change note (last in the queue) and everything before it, up to the bound.
        _commitQueued(MAX_COMMIT_PER_CALL);
    }

    /// @dev One payment. `extension` is zero for a plain payment; an extension contract that
    /// settles payments of its own kind (escrow) passes the hash of what its payment adds
    /// (its statement), which the proof must then bind too (see `_context`).
    function _pay(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        bytes32 extension
    ) internal returns (bytes32 id) {
        _checkPayment(proof, terms, memo, payeeMemo);
        // A payment is only valid until the expiry the payer signed up to.
        if (block.timestamp > terms.expiry) revert FacilitatorPaymentExpired(terms.expiry, block.timestamp);
        // The root must be one this pool really had, recently enough to be remembered.
        // This also makes treeSize >= 1, which the tree index signal relies on.
        if (!isKnownRoot(proof.root, proof.treeSize)) revert FacilitatorUnknownRoot(proof.root, proof.treeSize);
        // Each note is spent once: a non-zero receipt means its nullifier was used.
        if (isSpent(proof.nullifierHash)) revert FacilitatorNullifierSpent(bytes32(proof.nullifierHash));

        // The proof must verify for exactly these terms and memos (through `context`),
        // amount, fee, root, the root's tree, nullifier hash and both new commitments.
        uint256 context = _context(terms, memo, payeeMemo, extension);
        if (
            !verifier.verifyProof(
                proof.pA,
                proof.pB,
                proof.pC,
                PaymentSignals.layout(proof, terms, context, treeLevels)
            )
        ) {
            revert FacilitatorInvalidProof();
        }

        // Effects before interactions: spend, record the receipt, queue the new notes.
        id = bytes32(proof.nullifierHash);
        if (terms.payTo == address(0)) {
            // Shielded: the payee's value stays in the pool as the payee note, queued
            // before the change note, with the memo that delivers its opening. No
            // `_payout`: nothing leaves the pool for the payee. The receipt binds the memo too.
            _spendShielded(proof.nullifierHash, proof.payeeCommitment, terms.conditionHash, keccak256(payeeMemo));
            _append(proof.payeeCommitment, payeeMemo);
            _append(proof.changeCommitment, memo);
            emit ShieldedPaymentReceipt(id, proof.payeeCommitment, terms.relayer, terms.fee);
        } else {
            // Transparent: the proof's payee note is the empty note (checked in
            // `_checkPayment`, so its value is 0) and is not appended.
            bytes32 condition = _receiptCondition(terms.conditionHash, extension);
            _spend(proof.nullifierHash, terms.payTo, terms.amount, condition);
            _append(proof.changeCommitment, memo);
            emit PaymentReceipt(id, terms.amount, condition, terms.payTo, terms.relayer, terms.fee);
            // Interactions last: the payee's part through the hook.
            uint256 toPayee = _payout(id, terms);
            if (toPayee != 0) token.safeTransfer(terms.payTo, toPayee);
        }
        // The relayer's fee, in both modes.
        if (terms.fee != 0) token.safeTransfer(terms.relayer, terms.fee);
    }

    /// @inheritdoc IFacilitator
    function payBatch(BatchedPayment[] calldata payments) external override nonReentrant returns (uint256 settled) {
        uint256 k = payments.length;
        if (k == 0 || k > MAX_BATCH_SIZE) revert FacilitatorBatchSize(k, MAX_BATCH_SIZE);

        // 1. Check each payment; spend the nullifiers of those that can settle. Spending
        //    here (the whole call reverts if a proof fails below) makes a second payment
        //    of the same note inside the batch a skipped `NullifierSpent`.
        uint256[8][] memory proofs = new uint256[8][](k);
        uint256[] memory signals = new uint256[](k * PaymentSignals.COUNT);
        bool[] memory settles = new bool[](k);
        // New leaves: one per settled payment, plus one per settled shielded payment.
        uint256 newLeaves = 0;
        for (uint256 i = 0; i < k; ++i) {
            BatchedPayment calldata p = payments[i];
            // Malformed terms are the submitter's error, detectable before sending: revert.
            _checkPayment(p.proof, p.terms, p.memo, p.payeeMemo);
            // State that can change between batching and inclusion: skip, do not revert.
            bytes32 id = bytes32(p.proof.nullifierHash);
            if (isSpent(p.proof.nullifierHash)) {
                emit PaymentSkipped(id, SkipReason.NullifierSpent);
                continue;
            }
            if (block.timestamp > p.terms.expiry) {
                emit PaymentSkipped(id, SkipReason.Expired);
                continue;
            }
            // Also makes treeSize >= 1, which the tree index signal relies on.
            if (!isKnownRoot(p.proof.root, p.proof.treeSize)) {
                emit PaymentSkipped(id, SkipReason.UnknownRoot);
                continue;
            }
            if (p.terms.payTo == address(0)) {
                _spendShielded(
                    p.proof.nullifierHash,
                    p.proof.payeeCommitment,
                    p.terms.conditionHash,
                    keccak256(p.payeeMemo)
                );
                newLeaves += 2;
            } else {
                _spend(p.proof.nullifierHash, p.terms.payTo, p.terms.amount, p.terms.conditionHash);
                newLeaves += 1;
            }
            settles[i] = true;
            proofs[settled] = [
                p.proof.pA[0],
                p.proof.pA[1],
                p.proof.pB[0][0],
                p.proof.pB[0][1],
                p.proof.pB[1][0],
                p.proof.pB[1][1],
                p.proof.pC[0],
                p.proof.pC[1]
            ];
            uint256[7] memory s = PaymentSignals.layout(
                p.proof,
                p.terms,
                _context(p.terms, p.memo, p.payeeMemo, bytes32(0)),
                treeLevels
            );
            for (uint256 j = 0; j < PaymentSignals.COUNT; ++j) signals[settled * PaymentSignals.COUNT + j] = s[j];
            ++settled;
        }
        if (settled == 0) return 0;

        // 2. One batched pairing check over the payments that settle.
        uint256 settledSignals = settled * PaymentSignals.COUNT;
        assembly ("memory-safe") {
            // Shrink both arrays to the settled payments (lengths only decrease).
            mstore(proofs, settled)
            mstore(signals, settledSignals)
        }
        if (!batchVerifier.verifyBatch(proofs, signals)) revert FacilitatorInvalidProof();

        _settleBatch(payments, settles, settled, newLeaves);
    }

    /// @dev Steps 3 to 5 of `payBatch` (a function of its own for the stack), for the
    /// `settled` payments marked in `settles`, whose proofs all verified.
    function _settleBatch(
        BatchedPayment[] calldata payments,
        bool[] memory settles,
        uint256 settled,
        uint256 newLeaves
    ) private {
        uint256 k = payments.length;
        // 3. New notes, in payment order: a shielded payment's payee note, then every
        //    payment's change note. Appended and committed with everything queued before.
        uint256[] memory leaves = new uint256[](newLeaves);
        uint256 n = 0;
        for (uint256 i = 0; i < k; ++i) {
            if (!settles[i]) continue;
            if (payments[i].terms.payTo == address(0)) leaves[n++] = payments[i].proof.payeeCommitment;
            leaves[n++] = payments[i].proof.changeCommitment;
        }
        uint256 first = _appendMany(leaves);

        // 4. Events, each transparent payee's part through the hook, and the amounts owed,
        //    summed per recipient.
        address[] memory to = new address[](2 * settled);
        uint256[] memory owed = new uint256[](2 * settled);
        uint256 recipients = 0;
        n = 0;
        for (uint256 i = 0; i < k; ++i) {
            if (!settles[i]) continue;
            BatchedPayment calldata p = payments[i];
            bytes32 id = bytes32(p.proof.nullifierHash);
            if (p.terms.payTo == address(0)) {
                // Shielded: no `_payout`, nothing owed to a payee; only the fee leaves.
                emit LeafInserted(first + n++, p.proof.payeeCommitment, p.payeeMemo);
                emit LeafInserted(first + n++, p.proof.changeCommitment, p.memo);
                emit ShieldedPaymentReceipt(id, p.proof.payeeCommitment, p.terms.relayer, p.terms.fee);
            } else {
                emit LeafInserted(first + n++, p.proof.changeCommitment, p.memo);
                emit PaymentReceipt(
                    id,
                    p.terms.amount,
                    p.terms.conditionHash,
                    p.terms.payTo,
                    p.terms.relayer,
                    p.terms.fee
                );
                recipients = _owe(to, owed, recipients, p.terms.payTo, _payout(id, p.terms));
            }
            recipients = _owe(to, owed, recipients, p.terms.relayer, p.terms.fee);
        }

        // 5. Interactions last: one transfer per recipient.
        for (uint256 i = 0; i < recipients; ++i) token.safeTransfer(to[i], owed[i]);
    }

    // ================================================================== views

    /// @inheritdoc IFacilitator
    function paymentContext(
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) external view override returns (uint256) {
        return _context(terms, memo, payeeMemo, bytes32(0));
    }

    /// @inheritdoc IFacilitator
    function depositNonce(uint256 precommitment, bytes calldata memo) public view override returns (bytes32) {
        return keccak256(abi.encode(DEPOSIT_NONCE_TAG, block.chainid, address(this), precommitment, keccak256(memo)));
    }

    // ================================================================== payout hook

    /// @dev Where the payee's part of one settled transparent payment goes. Called exactly
    /// once per settled transparent payment, by `pay` / `payAndCommit` and by `payBatch`
    /// alike, after the payment's nullifier is spent (its receipt recorded), its change
    /// note appended and its `PaymentReceipt` emitted, and before any token leaves the
    /// pool in that call.
    ///
    /// NOT called for shielded payments (`terms.payTo == 0`): their payee's value never
    /// leaves the pool (it backs the payee note the payment appended), there is no
    /// address to pay, and `terms.amount` is 0. An extension that must see every payment
    /// (accounting, limits) has to handle `ShieldedPaymentReceipt` separately.
    ///
    /// Returns the part of `terms.amount` that the pool then transfers to `terms.payTo`
    /// itself. The default returns all of it: a plain transfer, which `payBatch` sums per
    /// recipient with the batch's other payments (one transfer per address), which is why
    /// the hook returns an amount instead of transferring it.
    ///
    /// An override (escrow, ...):
    /// - MUST account for `terms.amount - toPayee` itself, exactly: record it as held
    ///   (escrow balance, a new note's value) or move it out of the pool. Whatever it does
    ///   not return stays in the pool's token balance, which backs notes only if the
    ///   override accounts for it.
    /// - MUST return at most `terms.amount`: the surplus would be paid out of other
    ///   notes' backing. Nothing checks this at run time.
    /// - MUST NOT revert for a payment it does not handle (a revert in `payBatch` reverts
    ///   the whole batch, other payers' payments included).
    /// - Runs under the reentrancy lock of the calling entry point, so an external call
    ///   it makes cannot re-enter `pay`, `payBatch` or the deposits (they revert); the
    ///   views see the payment as settled. In `payBatch` it runs after every proof is
    ///   verified and every change note is committed, but before any of the batch's
    ///   transfers, so it must not rely on earlier payees of the batch being paid yet.
    /// - Its own events follow the payment's `PaymentReceipt` (and, in `payBatch`, that
    ///   payment's `LeafInserted`), so an indexer can attribute them to `id`.
    ///
    /// The relayer's `terms.fee` does not pass through the hook: it pays whoever submitted
    /// the transaction, who must be paid whatever happens to the payee's part (an escrow
    /// that also held fees would stop relayers from submitting), and `payBatch` merges it
    /// into the same per-recipient transfers.
    /// @param id The payment's receipt id (its nullifier hash).
    /// @param terms The payment's terms, as proven: `payTo`, `amount`, `conditionHash`,
    /// `expiry` and the relayer's `fee`.
    /// @return toPayee The part of `terms.amount` to transfer to `terms.payTo`.
    function _payout(bytes32 id, PaymentTerms calldata terms) internal virtual returns (uint256 toPayee) {
        id; // The plain payout does not need the id; overrides key escrow or notes by it.
        return terms.amount;
    }

    // ================================================================== internals

    /// @dev Refuses a deposit when the sanctions list (if any) names `from`, the address
    /// the tokens are pulled from, or `msg.sender` when it is another address (the relayer
    /// of an EIP-3009 deposit). What this guarantees: no listed address deposits into the
    /// pool, at the time of its deposit, as the list says then. What it does not: payees
    /// and withdrawal recipients are not screened (the pool cannot see who owns a note);
    /// an address listed after it deposited keeps its notes and can still spend them; and
    /// tokens that reached an unlisted address from a listed one are accepted. A list that
    /// reverts makes deposits revert (fail closed); payments and withdrawals never call it.
    function _screenDepositor(address from) internal view {
        ISanctionsList list = sanctionsList;
        if (address(list) == address(0)) return;
        if (list.isSanctioned(from)) revert FacilitatorSanctionedDepositor(from);
        if (msg.sender != from && list.isSanctioned(msg.sender)) revert FacilitatorSanctionedDepositor(msg.sender);
    }

    /// @dev Sets the sanctions list (zero: none) and emits `SanctionsListSet`. A non-zero
    /// list must have code: a call to an address without code reverts, which would stop
    /// every deposit.
    function _setSanctionsList(ISanctionsList list) internal {
        if (address(list) != address(0) && address(list).code.length == 0) {
            revert FacilitatorInvalidConfig("sanctions list has no code");
        }
        sanctionsList = list;
        emit SanctionsListSet(list);
    }

    /// @dev The checks of a payment that do not depend on chain state.
    function _checkPayment(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo
    ) internal pure {
        // Signals must be canonical field elements (checked first, so an out-of-field value
        // is named as such whatever else is wrong). The verifier reduces nothing, but a
        // nullifier hash n and n + p would otherwise be two storage keys for one note
        // (double spend), and a leaf >= p would be hashed mod p by later commits.
        if (proof.nullifierHash >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.nullifierHash);
        // The payee commitment becomes a leaf (shielded), which later commits would hash
        // mod p, and the key of the shielded receipt, which must be the commitment the
        // payee recomputes from the note's opening (always canonical).
        if (proof.payeeCommitment >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.payeeCommitment);
        if (proof.changeCommitment >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.changeCommitment);
        if (proof.root >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.root);
        if (terms.payTo == address(0)) {
            // Shielded. A public amount would have no one to go to (the zero address
            // would burn it); the payee's value is in the payee note instead.
            if (terms.amount != 0) revert FacilitatorShieldedAmount(terms.amount);
            // The payee memo is the only delivery of the payee note's opening: exactly one
            // encrypted note (PAYEE_MEMO_LENGTH bytes), so that every shielded payment's
            // memo looks alike on chain and a wrong-sized one is refused here, not lost.
            if (payeeMemo.length != PAYEE_MEMO_LENGTH) revert FacilitatorPayeeMemo(payeeMemo.length);
        } else {
            // Transparent: the payee note is worthless and not appended; a memo for it
            // would only cost gas and could hide data in the payment's calldata.
            if (payeeMemo.length != 0) revert FacilitatorPayeeMemo(payeeMemo.length);
            // ...and its commitment must be the one empty note, Commit(0, 0, 0), which forces
            // payeeValue = 0 (Poseidon binding); the circuit itself has no mode constraint.
            // Without this a transparent payment could put value in a note that is never
            // appended (burnt), and carry 254 free bits in a public signal (a side channel
            // that would tell payments apart). Found in the #19 audit (F4).
            if (proof.payeeCommitment != EMPTY_NOTE_COMMITMENT) {
                revert FacilitatorTransparentPayeeNote(proof.payeeCommitment);
            }
        }
        // A fee must have a recipient; a zero relayer would burn it.
        if (terms.fee != 0 && terms.relayer == address(0)) revert FacilitatorFeeWithoutRelayer(terms.fee);
        // Each below 2^128, so the public value amount + fee (range-checked to 129 bits in
        // the circuit) cannot overflow; refuse early with a clear error.
        if (terms.amount > MAX_VALUE) revert FacilitatorValueTooLarge(terms.amount);
        if (terms.fee > MAX_VALUE) revert FacilitatorValueTooLarge(terms.fee);
        // Bounded memo: it is stored in logs at the submitter's cost, but keep it sane.
        if (memo.length > MAX_MEMO_LENGTH) revert FacilitatorMemoTooLong(memo.length, MAX_MEMO_LENGTH);
    }

    /// @dev Adds `amount` to what `who` is owed (one entry per address), skipping zeros.
    function _owe(
        address[] memory to,
        uint256[] memory owed,
        uint256 count,
        address who,
        uint256 amount
    ) private pure returns (uint256) {
        if (amount == 0) return count;
        for (uint256 i = 0; i < count; ++i) {
            if (to[i] == who) {
                owed[i] += amount;
                return count;
            }
        }
        to[count] = who;
        owed[count] = amount;
        return count + 1;
    }

    function _deposit(
        address depositor,
        uint256 precommitment,
        uint128 value,
        bytes calldata memo
    ) internal returns (uint256 commitment, uint256 leafIndex) {
        // A zero deposit creates a worthless leaf.
        if (value == 0) revert FacilitatorZeroDeposit();
        // Poseidon reduces inputs mod p; a non-canonical precommitment would make the
        // on-chain commitment differ from the one the depositor can open in the circuit.
        if (precommitment >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(precommitment);
        if (memo.length > MAX_MEMO_LENGTH) revert FacilitatorMemoTooLong(memo.length, MAX_MEMO_LENGTH);
        // The chain computes the commitment, so the note's value is the deposited value.
        // Same function as the circuit's NoteCommitment: Poseidon1(Poseidon2(value,
        // precommitment)). The outer 1-input hash makes leaves a different function from
        // 2-input tree nodes (circuits/note_commitment.circom explains the forgery this
        // prevents).
        commitment = PoseidonT2.hash([PoseidonT3.hash([uint256(value), precommitment])]);
        // Committed right away with whatever is queued, so the deposit can be spent in
        // the next block (unless more than MAX_COMMIT_PER_CALL leaves were queued).
        uint256[] memory leaves = new uint256[](1);
        leaves[0] = commitment;
        leafIndex = _appendMany(leaves);
        emit LeafInserted(leafIndex, commitment, memo);
        emit Deposited(depositor, commitment, value);
    }

    /// @dev Pulls exactly `value` tokens from `from`, refusing tokens that deliver less
    /// (fee-on-transfer): every note must be fully backed by the pool's balance.
    function _pullExact(address from, uint256 value) internal {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), value);
        _checkReceived(before, value);
    }

    function _checkReceived(uint256 before, uint256 value) internal view {
        uint256 received = token.balanceOf(address(this)) - before;
        // The note will be worth `value`; the pool must have received exactly that.
        if (received != value) revert FacilitatorTransferAmountMismatch(value, received);
    }

    /// @dev The condition a payment's receipt and `PaymentReceipt` record: the terms' own for
    /// a plain payment; for an extension's payment (escrow), a hash of it with the
    /// extension's statement. So a server that checks a plain receipt for its condition
    /// (`checkReceipt(id, payTo, amount, conditionHash)`) gets `Mismatch` for an escrowed
    /// payment, whose payee has not been paid (and may never be: it can be refunded). Found
    /// in the #20 audit (C1): without this, a payer could be served on an escrowed payment
    /// and then refund it to itself.
    function _receiptCondition(bytes32 conditionHash, bytes32 extension) internal pure returns (bytes32) {
        if (extension == bytes32(0)) return conditionHash;
        return keccak256(abi.encode(EXTENSION_RECEIPT_TAG, conditionHash, extension));
    }

    /// @dev What binds a proof to one payment (see `paymentContext`): the chain and this
    /// contract (no replay elsewhere), every term (no redirection: payee, amount, relayer,
    /// fee, condition, expiry), the change memo (nobody can make the change note
    /// unrecoverable) and the payee memo (nobody can swap the payee's note delivery for a
    /// ciphertext the payee cannot open).
    ///
    /// `extension` is zero for plain payments (the encoding is then exactly the one
    /// `paymentContext` has always had). An extension's payment (an escrowed payment: its
    /// statement hash) appends it, so a proof made for one kind of payment never verifies
    /// as the other: nobody can settle an escrowed payment through `pay` or `payBatch`
    /// (which pass zero) and so skip the escrow, nor hold a plain payment in escrow.
    function _context(
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        bytes32 extension
    ) internal view returns (uint256) {
        bytes memory encoded =
            extension == bytes32(0)
                ? abi.encode(block.chainid, address(this), terms, keccak256(memo), keccak256(payeeMemo))
                : abi.encode(block.chainid, address(this), terms, keccak256(memo), keccak256(payeeMemo), extension);
        return uint256(keccak256(encoded)) % SNARK_SCALAR_FIELD;
    }
}
