// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IFacilitator } from "./IFacilitator.sol";
import { ISanctionsList } from "./ISanctionsList.sol";
import { IServiceVerifier } from "./IServiceVerifier.sol";

/// @title IFacilitatorEscrow
/// @notice Proof before pay: a transparent payment held in the pool until the payee proves,
/// with a registered service circuit, that it ran the promised computation on the payer's
/// input; returned to the payer as a private note if no such proof arrives in time.
///
/// Life of an escrowed payment with receipt id `id`:
/// 1. `payEscrowed`: like `pay`, but the proof also binds an {EscrowStatement} (through
///    the payment's context) and the payee's `amount` stays in the pool, held for `id`. The
///    relayer's fee is paid at once, as for any payment. The payment's receipt records the
///    condition `escrowReceiptCondition(conditionHash, statementHash)`, never the plain
///    `conditionHash`: a server that checks a plain receipt gets `Mismatch` (the payee is
///    not paid yet, and may never be). `checkEscrowedReceipt` reads both the receipt and
///    the escrow's state. `EscrowHeld` carries the whole statement and the refund memo, so
///    a keeper or a wallet restored from its seed can refund from the event alone.
/// 2. Either `release` (until `statement.deadline`, inclusive): anyone submits a service
///    proof whose public signals are the statement's model commitment and input hash, a
///    result ciphertext and `id`; the pool pays `amount` to `payTo` and the ciphertext is
///    published in `EscrowReleased`, so the payer gets its result even if the API never
///    answers.
/// 3. Or `refund` (strictly after the deadline): anyone appends the refund note, the note
///    `Commit(amount, statement.refundPrecommitment)` the payer chose, with the payer's
///    encrypted memo. Nobody can redirect it: both are fixed by the statement.
/// Each escrow ends exactly once, released or refunded.
interface IFacilitatorEscrow is IFacilitator {
    /// @notice What the payee must prove to be paid, and where the money goes otherwise.
    /// Bound by the payment's proof: its hash is part of the payment context.
    /// @param verifier Registered verifier of the service circuit that must prove the work.
    /// @param modelCommitment Commitment to the model or program the API published.
    /// @param inputHash Hash of the payer's input and blinding (see {IServiceVerifier}).
    /// @param deadline Last timestamp at which `release` is accepted; `refund` after it.
    /// @param refundPrecommitment `Poseidon2(ownerKey, blinding)` of the payer's refund note.
    /// @param refundMemoHash keccak256 of the refund note's memo (its encrypted opening).
    struct EscrowStatement {
        IServiceVerifier verifier;
        uint256 modelCommitment;
        uint256 inputHash;
        uint64 deadline;
        uint256 refundPrecommitment;
        bytes32 refundMemoHash;
    }

    /// @notice A Groth16 proof of a service circuit and the result ciphertext it proves.
    struct ServiceProof {
        uint256[2] pA;
        uint256[2][2] pB;
        uint256[2] pC;
        uint256 resultCiphertext;
    }

    /// @notice State of an escrowed payment.
    enum EscrowStatus {
        /// @dev No escrowed payment has this id.
        None,
        /// @dev Paid into escrow, neither released nor refunded yet.
        Held,
        /// @dev Released to the payee against a valid service proof.
        Released,
        /// @dev Returned to the payer as the refund note.
        Refunded
    }

    /// @notice The operator registered `verifier` (registrations are permanent).
    event ServiceVerifierRegistered(IServiceVerifier indexed verifier);

    /// @notice Payment `id` is held in escrow under `statementHash` (after its
    /// `PaymentReceipt`). The statement itself is in the transaction's calldata.
    /// @param statement The statement (everything `release` and `refund` take, with payTo and amount).
    /// @param refundMemo The refund note's memo (its keccak256 is `statement.refundMemoHash`).
    event EscrowHeld(
        bytes32 indexed id,
        bytes32 indexed statementHash,
        address payTo,
        uint256 amount,
        EscrowStatement statement,
        bytes refundMemo
    );

    /// @notice Escrow `id` was released: `amount` paid to `payTo`; `resultCiphertext` is the
    /// proven result, encrypted to the payer.
    event EscrowReleased(bytes32 indexed id, address indexed payTo, uint256 amount, uint256 resultCiphertext);

    /// @notice Escrow `id` was refunded into the note `commitment` at `leafIndex` (its
    /// `LeafInserted` carries the payer's memo).
    event EscrowRefunded(bytes32 indexed id, uint256 commitment, uint256 leafIndex);

    /// @notice Only the operator may register service verifiers.
    error EscrowNotOperator(address caller);
    /// @notice The statement names a verifier the operator has not registered.
    error EscrowUnknownVerifier(address verifier);
    /// @notice Escrow needs a transparent payee (`payTo != 0`) and a non-zero amount.
    error EscrowUnsupportedPayment(address payTo, uint256 amount);
    /// @notice The statement's deadline is not after the payment's own expiry.
    error EscrowDeadlineTooSoon(uint64 deadline, uint64 expiry);
    /// @notice No escrowed payment has this id.
    error EscrowNotFound(bytes32 id);
    /// @notice The statement, payee or amount given is not the escrow's.
    error EscrowStatementMismatch(bytes32 id);
    /// @notice The escrow was released already.
    error EscrowAlreadyReleased(bytes32 id);
    /// @notice The escrow was refunded already.
    error EscrowAlreadyRefunded(bytes32 id);
    /// @notice `release` after the statement's deadline: the escrow can only be refunded.
    error EscrowExpired(bytes32 id, uint64 deadline, uint256 timestamp);
    /// @notice `refund` at or before the deadline: the payee may still release it.
    error EscrowRefundTooEarly(bytes32 id, uint64 deadline, uint256 timestamp);
    /// @notice The service proof does not verify for the escrow's statement and id.
    error EscrowInvalidServiceProof(bytes32 id);
    /// @notice The refund memo is not the one the statement's `refundMemoHash` names.
    error EscrowRefundMemoMismatch(bytes32 id);

    /// @notice The operator, who registers service verifiers and sets the sanctions list.
    function operator() external view returns (address);

    /// @notice True when `verifier` may be named by an escrow statement.
    function isServiceVerifier(IServiceVerifier verifier) external view returns (bool);

    /// @notice Registers a service verifier (operator only, permanent).
    function registerServiceVerifier(IServiceVerifier verifier) external;

    /// @notice Screens later deposits against `list` (operator only; zero stops screening).
    /// `list` must be zero or a contract (a call to an address without code would revert
    /// every deposit). Emits `SanctionsListSet`. See {IFacilitator-sanctionsList} for what
    /// screening does and does not guarantee.
    function setSanctionsList(ISanctionsList list) external;

    /// @notice Pays like `pay`, holding the payee's `amount` in escrow under `statement`.
    /// @return id The payment's receipt id, which is also the escrow's.
    /// @param refundMemo The refund note's memo: must hash to `statement.refundMemoHash`;
    /// published in `EscrowHeld`.
    function payEscrowed(
        PaymentProof calldata proof,
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        EscrowStatement calldata statement,
        bytes calldata refundMemo
    ) external returns (bytes32 id);

    /// @notice Releases escrow `id` to `payTo` against a service proof (until the deadline).
    function release(
        bytes32 id,
        address payTo,
        uint256 amount,
        EscrowStatement calldata statement,
        ServiceProof calldata serviceProof
    ) external;

    /// @notice Refunds escrow `id` into the payer's refund note (after the deadline).
    /// @return commitment The refund note's commitment.
    function refund(
        bytes32 id,
        address payTo,
        uint256 amount,
        EscrowStatement calldata statement,
        bytes calldata refundMemo
    ) external returns (uint256 commitment);

    /// @notice The escrow's state, in one call.
    function escrowStatus(bytes32 id) external view returns (EscrowStatus);

    /// @notice The condition an escrowed payment's receipt records for `conditionHash`.
    function escrowReceiptCondition(bytes32 conditionHash, bytes32 statementHash) external pure returns (bytes32);

    /// @notice What a proof-before-pay server checks, in one call: the payment's receipt (for
    /// this payee, amount, condition and statement) and the escrow's state. Paid + Released:
    /// the payee was paid; Paid + Held: paid into escrow, not yet released.
    function checkEscrowedReceipt(
        bytes32 id,
        address payTo,
        uint256 amount,
        bytes32 conditionHash,
        bytes32 statementHash
    ) external view returns (ReceiptStatus receipt, EscrowStatus escrow);

    /// @notice Hash that a payment's context binds for `statement` (see `escrowedPaymentContext`).
    function escrowStatementHash(EscrowStatement calldata statement) external pure returns (bytes32);

    /// @notice The context an escrowed payment's proof must bind (the SDK recomputes it).
    function escrowedPaymentContext(
        PaymentTerms calldata terms,
        bytes calldata memo,
        bytes calldata payeeMemo,
        EscrowStatement calldata statement
    ) external view returns (uint256);
}
