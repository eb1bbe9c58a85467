// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { PoseidonT2 } from "poseidon-solidity/PoseidonT2.sol";
import { PoseidonT3 } from "poseidon-solidity/PoseidonT3.sol";

import { Facilitator } from "../Facilitator.sol";
import { IFacilitatorEscrow } from "../interfaces/IFacilitatorEscrow.sol";
import { IPaymentBatchVerifier } from "../interfaces/IPaymentBatchVerifier.sol";
import { IPaymentVerifier } from "../interfaces/IPaymentVerifier.sol";
import { ISanctionsList } from "../interfaces/ISanctionsList.sol";
import { IServiceVerifier } from "../interfaces/IServiceVerifier.sol";

/// @title FacilitatorEscrow
/// @notice The Facilitator with proof-before-pay escrow. See {IFacilitatorEscrow}.
/// @dev An extension in OpenZeppelin's sense: everything the pool does is unchanged; this
/// contract adds one entry point that pays into escrow (`payEscrowed`), the two ways out of
/// it (`release`, `refund`), and overrides one hook, {Facilitator-_payout}, which holds the
/// payee's amount instead of transferring it while `payEscrowed` runs.
///
/// Storage is one slot per escrow: while held, the keccak256 of (statement hash, payee,
/// amount), which `release` and `refund` check the calldata against; afterwards one of the
/// two end markers. The statement, payee and amount themselves live in calldata and events.
contract FacilitatorEscrow is Facilitator, IFacilitatorEscrow {
    using SafeERC20 for IERC20;

    /// @notice Domain tag of escrow statement hashes (never a plain payment's context).
    bytes32 internal constant STATEMENT_TAG = keccak256("402zk.escrow.statement.v1");

    /// @dev End markers of an escrow slot. A held escrow's record is a keccak256 output, so
    /// it equals one of these with negligible probability.
    bytes32 private constant RELEASED = bytes32(uint256(1));
    bytes32 private constant REFUNDED = bytes32(uint256(2));

    /// @inheritdoc IFacilitatorEscrow
    address public immutable override operator;

    /// @inheritdoc IFacilitatorEscrow
    mapping(IServiceVerifier verifier => bool registered) public override isServiceVerifier;

    /// @dev Escrow record per payment id (see the contract's notes).
    mapping(bytes32 id => bytes32 record) private _escrows;

    /// @dev Statement hash of the escrowed payment being settled, set by `payEscrowed`
    /// around its `_pay` only, so that `_payout` knows to hold. Transient: zero in any other
    /// call, so plain payments (`pay`, `payBatch`) are paid out as usual.
    bytes32 private transient _holding;

    /// @param operator_ May register service verifiers and set the sanctions list (and nothing else).
    /// @param sanctionsList_ Sanctions-list oracle deposits are screened against, or zero.
    constructor(
        IERC20 token_,
        IPaymentVerifier verifier_,
        IPaymentBatchVerifier batchVerifier_,
        uint256 rootHistorySize_,
        uint256 treeLevels_,
        address operator_,
        ISanctionsList sanctionsList_
    ) Facilitator(token_, verifier_, batchVerifier_, rootHistorySize_, treeLevels_, sanctionsList_) {
        if (operator_ == address(0)) revert FacilitatorInvalidConfig("operator is the zero address");
        operator = operator_;
    }

    // ================================================================== registry

    /// @inheritdoc IFacilitatorEscrow
    /// @dev Permanent on purpose: an operator who could unregister a verifier could stop
    /// every escrow naming it from being released, and force refunds. The trust left in
    /// the operator is that a registered verifier is a real one; payers check a
    /// verifier's code against the circuit's published verifier before naming it.
    function registerServiceVerifier(IServiceVerifier verifier_) external override {
        if (msg.sender != operator) revert EscrowNotOperator(msg.sender);
        if (address(verifier_).code.length == 0) revert FacilitatorInvalidConfig("service verifier has no code");
        isServiceVerifier[verifier_] = true;
        emit ServiceVerifierRegistered(verifier_);
    }

    /// @inheritdoc IFacilitatorEscrow
    /// @dev The operator can start, change or stop screening; it cannot touch a note
    /// already deposited, nor stop payments or withdrawals (only deposits consult the list).
    function setSanctionsList(ISanctionsList list) external override {
        if (msg.sender != operator) revert EscrowNotOperator(msg.sender);
        _setSanctionsList(list);
    }

    // ================================================================== escrow

    /// @inheritdoc IFacilitatorEscrow
    function payEscrowed(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        EscrowStatement calldata statement,
        bytes calldata refundMemo
    ) external override nonReentrant returns (bytes32 id) {
        // Transparent payees only: a shielded payee's value is a note whose amount the
        // chain does not see, so no refund note of the same value could be checked here
        // (that needs the payment circuit to bind the refund note; not in payment-v2).
        if (terms.payTo == address(0) || terms.amount == 0) revert EscrowUnsupportedPayment(terms.payTo, terms.amount);
        // Only a verifier the operator registered can release: an arbitrary contract named
        // by a payee could "verify" anything.
        if (!isServiceVerifier[statement.verifier]) revert EscrowUnknownVerifier(address(statement.verifier));
        // The payment may be settled until its expiry; its escrow must outlive that, or it
        // could be created already refundable.
        if (statement.deadline <= terms.expiry) revert EscrowDeadlineTooSoon(statement.deadline, terms.expiry);
        // The statement's field elements go into a Groth16 verifier (model, input) and a
        // Poseidon hash (refund): they must be canonical, or a proof for x would be matched
        // against x + p and the refund note would not be the one the payer can open.
        if (statement.modelCommitment >= SNARK_SCALAR_FIELD)
            revert FacilitatorInputOutOfField(statement.modelCommitment);
        if (statement.inputHash >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(statement.inputHash);
        if (statement.refundPrecommitment >= SNARK_SCALAR_FIELD) {
            revert FacilitatorInputOutOfField(statement.refundPrecommitment);
        }

        // The memo the refund will append, published now so that anyone can refund from the
        // event alone (a keeper, a wallet restored from its seed). Found in the #20 audit (H1).
        if (keccak256(refundMemo) != statement.refundMemoHash) revert EscrowRefundMemoMismatch(bytes32(0));
        if (refundMemo.length > MAX_MEMO_LENGTH) revert FacilitatorMemoTooLong(refundMemo.length, MAX_MEMO_LENGTH);

        bytes32 statementHash = escrowStatementHash(statement);
        // `_pay` checks the proof against a context that binds `statementHash`, so this
        // proof was made for this statement (and cannot be settled through `pay`), then
        // calls `_payout`, which holds the amount under `_holding`.
        _holding = statementHash;
        id = _pay(proof, terms, memo, payeeMemo, statementHash);
        _holding = bytes32(0);
        emit EscrowHeld(id, statementHash, terms.payTo, terms.amount, statement, refundMemo);
    }

    /// @inheritdoc IFacilitatorEscrow
    function release(
        bytes32 id,
        address payTo,
        uint256 amount,
        EscrowStatement calldata statement,
        ServiceProof calldata serviceProof
    ) external override nonReentrant {
        _checkHeld(id, payTo, amount, statement);
        // Inclusive: at the deadline itself the payee may still release; refund starts after.
        if (block.timestamp > statement.deadline) revert EscrowExpired(id, statement.deadline, block.timestamp);
        // The ciphertext is a public signal; a non-canonical one would be a second encoding
        // of the same result that the payer's decryption would read differently.
        if (serviceProof.resultCiphertext >= SNARK_SCALAR_FIELD) {
            revert FacilitatorInputOutOfField(serviceProof.resultCiphertext);
        }
        // The proof must be for this escrow (`id`, so it cannot release another escrow of the
        // same statement), the statement's model and the payer's input. The verifier is the
        // statement's, registered when the payment was made (registrations are permanent).
        if (
            !statement.verifier.verifyProof(
                serviceProof.pA,
                serviceProof.pB,
                serviceProof.pC,
                [statement.modelCommitment, statement.inputHash, serviceProof.resultCiphertext, uint256(id)]
            )
        ) {
            revert EscrowInvalidServiceProof(id);
        }
        // Effects, event, then the one interaction.
        _escrows[id] = RELEASED;
        emit EscrowReleased(id, payTo, amount, serviceProof.resultCiphertext);
        token.safeTransfer(payTo, amount);
    }

    /// @inheritdoc IFacilitatorEscrow
    function refund(
        bytes32 id,
        address payTo,
        uint256 amount,
        EscrowStatement calldata statement,
        bytes calldata refundMemo
    ) external override nonReentrant returns (uint256 commitment) {
        _checkHeld(id, payTo, amount, statement);
        // Strictly after the deadline: until then the payee may release.
        if (block.timestamp <= statement.deadline) {
            revert EscrowRefundTooEarly(id, statement.deadline, block.timestamp);
        }
        // The memo is the only delivery of the refund note's opening to the payer's wallet;
        // the statement fixes it so nobody can append the note with a memo the payer cannot
        // read (the note would exist but its owner would not find it).
        if (keccak256(refundMemo) != statement.refundMemoHash) revert EscrowRefundMemoMismatch(id);
        _escrows[id] = REFUNDED;
        // The note's value is exactly the held amount (the pool still holds those tokens: the
        // hook never paid them out) and its owner is the one the payer chose in the statement:
        // the same commitment as a deposit, Poseidon1(Poseidon2(value, precommitment)).
        commitment = PoseidonT2.hash([PoseidonT3.hash([amount, statement.refundPrecommitment])]);
        // Committed right away with whatever is queued, like a deposit, so the payer can spend
        // it in the next block.
        uint256[] memory leaves = new uint256[](1);
        leaves[0] = commitment;
        uint256 leafIndex = _appendMany(leaves);
        emit LeafInserted(leafIndex, commitment, refundMemo);
        emit EscrowRefunded(id, commitment, leafIndex);
    }

    // ================================================================== views

    /// @inheritdoc IFacilitatorEscrow
    function escrowStatus(bytes32 id) external view override returns (EscrowStatus) {
        bytes32 record = _escrows[id];
        if (record == bytes32(0)) return EscrowStatus.None;
        if (record == RELEASED) return EscrowStatus.Released;
        if (record == REFUNDED) return EscrowStatus.Refunded;
        return EscrowStatus.Held;
    }

    /// @inheritdoc IFacilitatorEscrow
    function escrowReceiptCondition(
        bytes32 conditionHash,
        bytes32 statementHash
    ) public pure override returns (bytes32) {
        return _receiptCondition(conditionHash, statementHash);
    }

    /// @inheritdoc IFacilitatorEscrow
    function checkEscrowedReceipt(
        bytes32 id,
        address payTo,
        uint256 amount,
        bytes32 conditionHash,
        bytes32 statementHash
    ) external view override returns (ReceiptStatus receipt, EscrowStatus escrow) {
        (receipt, , ) = this.checkReceipt(id, payTo, amount, _receiptCondition(conditionHash, statementHash));
        escrow = this.escrowStatus(id);
    }

    /// @inheritdoc IFacilitatorEscrow
    function escrowStatementHash(EscrowStatement calldata statement) public pure override returns (bytes32) {
        return keccak256(abi.encode(STATEMENT_TAG, statement));
    }

    /// @inheritdoc IFacilitatorEscrow
    function escrowedPaymentContext(
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        EscrowStatement calldata statement
    ) external view override returns (uint256) {
        return _context(terms, memo, payeeMemo, escrowStatementHash(statement));
    }

    // ================================================================== hook + internals

    /// @inheritdoc Facilitator
    /// @dev Holds the whole amount when called from `payEscrowed` (the only caller that sets
    /// `_holding`): it stays in the pool's balance, accounted for by the escrow record until
    /// `release` transfers it or `refund` turns it into a note. Any other payment is paid
    /// out in full, as by the plain Facilitator.
    function _payout(bytes32 id, PaymentTerms calldata terms) internal override returns (uint256 toPayee) {
        bytes32 statementHash = _holding;
        if (statementHash == bytes32(0)) return terms.amount;
        _escrows[id] = _record(statementHash, terms.payTo, terms.amount);
        return 0;
    }

    /// @dev Reverts unless escrow `id` is held under exactly this statement, payee and amount.
    function _checkHeld(bytes32 id, address payTo, uint256 amount, EscrowStatement calldata statement) private view {
        bytes32 record = _escrows[id];
        if (record == bytes32(0)) revert EscrowNotFound(id);
        if (record == RELEASED) revert EscrowAlreadyReleased(id);
        if (record == REFUNDED) revert EscrowAlreadyRefunded(id);
        // Nobody can change the statement (another model, input, deadline or refund note) or
        // redirect the payment (another payee or amount) after the payer proved it.
        if (record != _record(escrowStatementHash(statement), payTo, amount)) revert EscrowStatementMismatch(id);
    }

    function _record(bytes32 statementHash, address payTo, uint256 amount) private pure returns (bytes32) {
        return keccak256(abi.encode(statementHash, payTo, amount));
    }
}
