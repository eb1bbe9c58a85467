// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { IERC20Permit } from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { ReentrancyGuardTransient } from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import { IFacilitator } from "./interfaces/IFacilitator.sol";
import { IPaymentVerifier } from "./interfaces/IPaymentVerifier.sol";
import { IERC3009 } from "./interfaces/IERC3009.sol";
import { LeanIncrementalTree } from "./libraries/LeanIncrementalTree.sol";
import { PaymentSignals } from "./libraries/PaymentSignals.sol";
import { PoseidonT2 } from "poseidon-solidity/PoseidonT2.sol";
import { PoseidonT3 } from "poseidon-solidity/PoseidonT3.sol";

/// @title Facilitator
/// @notice Shielded ERC-20 pool and on-chain x402 facilitator. See {IFacilitator}.
/// @dev Storage per payment is frugal on purpose: one slot per spent nullifier serves
/// both as the double-spend flag and as the receipt a server checks, the tree keeps one
/// side node per insert, and recent roots live in a ring buffer addressed by tree size.
contract Facilitator is IFacilitator, ReentrancyGuardTransient {
    using LeanIncrementalTree for LeanIncrementalTree.Tree;
    using SafeERC20 for IERC20;

    /// @notice Order of the BN254 scalar field: every public signal must be below it.
    uint256 internal constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Largest value the circuit accepts (VALUE_BITS = 128).
    uint256 internal constant MAX_VALUE = type(uint128).max;

    /// @notice Longest memo accepted, in bytes.
    uint256 public constant MAX_MEMO_LENGTH = 512;

    /// @notice Placeholder written by {prewarmRootHistory}: not a field element, so never
    /// a root, but non-zero, so the first real root in the slot costs a 5k update rather
    /// than a 22.1k new slot.
    uint256 internal constant ROOT_SLOT_PLACEHOLDER = type(uint256).max;

    /// @notice Domain tag of deposit authorizations (EIP-3009 nonces).
    bytes32 internal constant DEPOSIT_NONCE_TAG = keccak256("402zk.deposit.v1");

    /// @inheritdoc IFacilitator
    IERC20 public immutable override token;

    /// @inheritdoc IFacilitator
    IPaymentVerifier public immutable override verifier;

    /// @inheritdoc IFacilitator
    uint256 public immutable override rootHistorySize;

    LeanIncrementalTree.Tree internal _tree;

    /// @dev roots[size % rootHistorySize] = root when the tree had `size` leaves.
    mapping(uint256 slot => uint256 root) internal _roots;

    /// @dev nullifierHash => receipt. Zero: unspent. Otherwise the block number of the
    /// payment in the top 64 bits and the low 192 bits of
    /// keccak256(payTo, amount, conditionHash) below.
    mapping(uint256 nullifierHash => bytes32 receipt) internal _receipts;

    /// @param token_ ERC-20 held by the pool (for example USDC).
    /// @param verifier_ Groth16 verifier exported from the payment circuit.
    /// @param rootHistorySize_ Number of past roots that stay valid for proofs.
    constructor(IERC20 token_, IPaymentVerifier verifier_, uint256 rootHistorySize_) {
        // Both dependencies are immutable: a zero address would brick the pool.
        if (address(token_) == address(0)) revert FacilitatorInvalidConfig("token is the zero address");
        if (address(verifier_) == address(0)) revert FacilitatorInvalidConfig("verifier is the zero address");
        // At least the current root must be accepted.
        if (rootHistorySize_ == 0) revert FacilitatorInvalidConfig("rootHistorySize is zero");
        token = token_;
        verifier = verifier_;
        rootHistorySize = rootHistorySize_;
    }

    // ================================================================== deposits

    /// @inheritdoc IFacilitator
    function deposit(
        uint256 precommitment,
        uint128 value,
        bytes calldata memo
    ) external override nonReentrant returns (uint256 commitment, uint256 leafIndex) {
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
        bytes calldata memo
    ) external override nonReentrant returns (bytes32 id) {
        // Paying the zero address would burn the amount.
        if (terms.payTo == address(0)) revert FacilitatorZeroPayee();
        // A fee must have a recipient; a zero relayer would burn it.
        if (terms.fee != 0 && terms.relayer == address(0)) revert FacilitatorFeeWithoutRelayer(terms.fee);
        // The circuit range-checks both to 128 bits; refuse early with a clear error.
        if (terms.amount > MAX_VALUE) revert FacilitatorValueTooLarge(terms.amount);
        if (terms.fee > MAX_VALUE) revert FacilitatorValueTooLarge(terms.fee);
        // A payment is only valid until the expiry the payer signed up to.
        if (block.timestamp > terms.expiry) revert FacilitatorPaymentExpired(terms.expiry, block.timestamp);
        // Bounded memo: it is stored in logs at the submitter's cost, but keep it sane.
        if (memo.length > MAX_MEMO_LENGTH) revert FacilitatorMemoTooLong(memo.length, MAX_MEMO_LENGTH);
        // Signals must be canonical field elements. The verifier reduces nothing, but a
        // nullifier hash n and n + p would otherwise be two storage keys for one note
        // (double spend), and a leaf >= p would be hashed mod p by later inserts.
        if (proof.nullifierHash >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.nullifierHash);
        if (proof.changeCommitment >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.changeCommitment);
        if (proof.root >= SNARK_SCALAR_FIELD) revert FacilitatorInputOutOfField(proof.root);
        // The root must be one this tree really had, recently enough to be remembered.
        if (!isKnownRoot(proof.root, proof.treeSize)) revert FacilitatorUnknownRoot(proof.root, proof.treeSize);
        // Each note is spent once: a non-zero receipt means its nullifier was used.
        if (_receipts[proof.nullifierHash] != 0) revert FacilitatorNullifierSpent(bytes32(proof.nullifierHash));

        uint256 context = _context(terms, memo);
        // The proof must verify for exactly these terms (through `context`), amount, fee,
        // root, nullifier hash and change commitment.
        if (!verifier.verifyProof(proof.pA, proof.pB, proof.pC, PaymentSignals.layout(proof, terms, context))) {
            revert FacilitatorInvalidProof();
        }

        // Effects before interactions: spend, record the receipt, append the change note.
        id = bytes32(proof.nullifierHash);
        _receipts[proof.nullifierHash] = _packReceipt(terms.payTo, terms.amount, terms.conditionHash);
        _insert(proof.changeCommitment, memo);
        emit PaymentReceipt(id, terms.amount, terms.conditionHash, terms.payTo, terms.relayer, terms.fee);

        if (terms.amount != 0) token.safeTransfer(terms.payTo, terms.amount);
        if (terms.fee != 0) token.safeTransfer(terms.relayer, terms.fee);
    }

    // ================================================================== views

    /// @inheritdoc IFacilitator
    function paymentContext(PaymentTerms calldata terms, bytes calldata memo) external view override returns (uint256) {
        return _context(terms, memo);
    }

    /// @inheritdoc IFacilitator
    function checkReceipt(
        bytes32 id,
        address payTo,
        uint256 amount,
        bytes32 conditionHash
    ) external view override returns (ReceiptStatus status, uint64 paidAtBlock, uint64 currentBlock) {
        currentBlock = uint64(block.number);
        bytes32 receipt = _receipts[uint256(id)];
        if (receipt == 0) return (ReceiptStatus.None, 0, currentBlock);
        paidAtBlock = uint64(uint256(receipt) >> 192);
        status =
            receipt == _packReceiptAt(paidAtBlock, payTo, amount, conditionHash)
                ? ReceiptStatus.Paid
                : ReceiptStatus.Mismatch;
    }

    /// @inheritdoc IFacilitator
    function isSpent(uint256 nullifierHash) external view override returns (bool) {
        return _receipts[nullifierHash] != 0;
    }

    /// @inheritdoc IFacilitator
    function depositNonce(uint256 precommitment, bytes calldata memo) public view override returns (bytes32) {
        return keccak256(abi.encode(DEPOSIT_NONCE_TAG, block.chainid, address(this), precommitment, keccak256(memo)));
    }

    /// @inheritdoc IFacilitator
    function prewarmRootHistory(uint256 fromSlot, uint256 count) external override {
        uint256 end = fromSlot + count;
        if (end > rootHistorySize) end = rootHistorySize;
        for (uint256 i = fromSlot; i < end; ++i) {
            // Never overwrite a real root: only slots no insert has reached yet.
            if (_roots[i] == 0) _roots[i] = ROOT_SLOT_PLACEHOLDER;
        }
    }

    /// @inheritdoc IFacilitator
    function currentRoot() external view override returns (uint256) {
        uint256 size = _tree.size;
        // Empty tree: slot 0 may hold the prewarm placeholder, which is not a root.
        return size == 0 ? 0 : _roots[size % rootHistorySize];
    }

    /// @inheritdoc IFacilitator
    function treeSize() external view override returns (uint256) {
        return _tree.size;
    }

    /// @inheritdoc IFacilitator
    function treeDepth() external view override returns (uint256) {
        return _tree.depth;
    }

    /// @inheritdoc IFacilitator
    function isKnownRoot(uint256 root, uint256 size) public view override returns (bool) {
        // Zero (never-written slot) and the prewarm placeholder (not a field element) are
        // never real roots.
        if (root == 0 || root >= SNARK_SCALAR_FIELD) return false;
        uint256 current = _tree.size;
        // A future size, or one whose slot has since been overwritten, is not remembered.
        if (size > current || current - size >= rootHistorySize) return false;
        return _roots[size % rootHistorySize] == root;
    }

    // ================================================================== internals

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
        leafIndex = _insert(commitment, memo);
        emit Deposited(depositor, commitment, value);
    }

    function _insert(uint256 leaf, bytes calldata memo) internal returns (uint256 leafIndex) {
        uint256 root;
        (leafIndex, root) = _tree.insert(leaf);
        _roots[(leafIndex + 1) % rootHistorySize] = root;
        emit LeafInserted(leafIndex, leaf, memo);
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

    function _context(PaymentTerms calldata terms, bytes calldata memo) internal view returns (uint256) {
        return
            uint256(keccak256(abi.encode(block.chainid, address(this), terms, keccak256(memo)))) % SNARK_SCALAR_FIELD;
    }

    function _packReceipt(address payTo, uint256 amount, bytes32 conditionHash) internal view returns (bytes32) {
        return _packReceiptAt(uint64(block.number), payTo, amount, conditionHash);
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
}
