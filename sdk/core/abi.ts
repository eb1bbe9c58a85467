import { parseAbi } from "viem";

/**
 * ABI of the Facilitator (see contracts/interfaces/IFacilitator.sol). A test checks it
 * against the compiled contract, so it cannot drift.
 */
export const facilitatorAbi = parseAbi([
  "struct PaymentProof { uint256[2] pA; uint256[2][2] pB; uint256[2] pC; uint256 root; uint256 treeSize; uint256 nullifierHash; uint256 payeeCommitment; uint256 changeCommitment; }",
  "struct PaymentTerms { address payTo; uint256 amount; address relayer; uint256 fee; bytes32 conditionHash; uint64 expiry; }",
  "struct BatchedPayment { PaymentProof proof; PaymentTerms terms; bytes memo; bytes payeeMemo; }",
  "event LeafInserted(uint256 indexed leafIndex, uint256 commitment, bytes memo)",
  "event LeavesCommitted(uint256 fromIndex, uint256 toIndex, uint256 root)",
  "event TreeCompleted(uint256 indexed treeIndex, uint256 root)",
  "event PaymentSkipped(bytes32 indexed id, uint8 reason)",
  "event Deposited(address indexed depositor, uint256 indexed commitment, uint256 value)",
  "event PaymentReceipt(bytes32 indexed id, uint256 amount, bytes32 indexed conditionHash, address indexed payTo, address relayer, uint256 fee)",
  "event ShieldedPaymentReceipt(bytes32 indexed id, uint256 payeeCommitment, address relayer, uint256 fee)",
  "event SanctionsListSet(address indexed sanctionsList)",
  "error FacilitatorNullifierSpent(bytes32 nullifierHash)",
  "error FacilitatorUnknownRoot(uint256 root, uint256 treeSize)",
  "error FacilitatorInvalidProof()",
  "error FacilitatorInputOutOfField(uint256 input)",
  "error FacilitatorValueTooLarge(uint256 value)",
  "error FacilitatorPaymentExpired(uint64 expiry, uint256 timestamp)",
  "error FacilitatorShieldedAmount(uint256 amount)",
  "error FacilitatorPayeeMemo(uint256 length)",
  "error FacilitatorTransparentPayeeNote(uint256 payeeCommitment)",
  "error FacilitatorFeeWithoutRelayer(uint256 fee)",
  "error FacilitatorZeroDeposit()",
  "error FacilitatorTransferAmountMismatch(uint256 expected, uint256 received)",
  "error FacilitatorMemoTooLong(uint256 length, uint256 maxLength)",
  "error FacilitatorBatchSize(uint256 size, uint256 max)",
  "error FacilitatorSanctionedDepositor(address depositor)",
  "error FacilitatorInvalidConfig(string reason)",
  "function deposit(uint256 precommitment, uint128 value, bytes memo) returns (uint256 commitment, uint256 leafIndex)",
  "function depositWithPermit(uint256 precommitment, uint128 value, bytes memo, uint256 deadline, uint8 v, bytes32 r, bytes32 s) returns (uint256 commitment, uint256 leafIndex)",
  "function depositWithAuthorization(address from, uint256 precommitment, uint128 value, bytes memo, uint256 validAfter, uint256 validBefore, uint8 v, bytes32 r, bytes32 s) returns (uint256 commitment, uint256 leafIndex)",
  "function pay(PaymentProof proof, PaymentTerms terms, bytes memo, bytes payeeMemo) returns (bytes32 id)",
  "function payAndCommit(PaymentProof proof, PaymentTerms terms, bytes memo, bytes payeeMemo) returns (bytes32 id)",
  "function payBatch(BatchedPayment[] payments) returns (uint256 settled)",
  "function commitPendingLeaves(uint256 maxLeaves) returns (uint256 committed)",
  "function prewarmRootHistory(uint256 fromSlot, uint256 count)",
  "function prewarmLeafQueue(uint256 fromSlot, uint256 count)",
  "function paymentContext(PaymentTerms terms, bytes memo, bytes payeeMemo) view returns (uint256)",
  "function checkReceipt(bytes32 id, address payTo, uint256 amount, bytes32 conditionHash) view returns (uint8 status, uint64 paidAtBlock, uint64 currentBlock)",
  "function checkShieldedReceipt(bytes32 id, uint256 payeeCommitment, bytes32 conditionHash, bytes32 payeeMemoHash) view returns (uint8 status, uint64 paidAtBlock, uint64 currentBlock)",
  "function isSpent(uint256 nullifierHash) view returns (bool)",
  "function depositNonce(uint256 precommitment, bytes memo) view returns (bytes32)",
  "function currentRoot() view returns (uint256)",
  "function treeSize() view returns (uint256)",
  "function leafCount() view returns (uint256)",
  "function pendingLeafCount() view returns (uint256)",
  "function treeIndex() view returns (uint256)",
  "function finalRoot(uint256 treeIndex) view returns (uint256)",
  "function treeDepth() view returns (uint256)",
  "function treeLevels() view returns (uint256)",
  "function isKnownRoot(uint256 root, uint256 size) view returns (bool)",
  "function token() view returns (address)",
  "function verifier() view returns (address)",
  "function batchVerifier() view returns (address)",
  "function sanctionsList() view returns (address)",
  "function rootHistorySize() view returns (uint256)",
  "function MAX_MEMO_LENGTH() view returns (uint256)",
  "function PAYEE_MEMO_LENGTH() view returns (uint256)",
  "function EMPTY_NOTE_COMMITMENT() view returns (uint256)",
  "function MAX_BATCH_SIZE() view returns (uint256)",
  "function MAX_COMMIT_PER_CALL() view returns (uint256)",
  "function LEAF_QUEUE_CAPACITY() view returns (uint256)",
]);

/** The ERC-20 functions the SDK uses. */
export const erc20Abi = parseAbi([
  "function approve(address spender, uint256 value) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function balanceOf(address owner) view returns (uint256)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function name() view returns (string)",
  "function mint(address to, uint256 value)",
  "function nonces(address owner) view returns (uint256)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
]);

/** Receipt status codes of `checkReceipt` (INotePool.ReceiptStatus). */
export const RECEIPT_STATUS = { None: 0, Paid: 1, Mismatch: 2 } as const;

/** Why `payBatch` skipped a payment (IFacilitator.SkipReason, the `reason` of PaymentSkipped). */
export const SKIP_REASON = { NullifierSpent: 0, Expired: 1, UnknownRoot: 2 } as const;
