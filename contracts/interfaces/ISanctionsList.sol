// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ISanctionsList
/// @notice A sanctions-list oracle: the one function Chainalysis' public on-chain
/// sanctions oracle exposes (same signature), so the pool can be pointed at it, or at any
/// list with the same interface (`contracts/test/MockSanctionsList.sol` in tests).
interface ISanctionsList {
    /// @notice True when `addr` is on the list.
    function isSanctioned(address addr) external view returns (bool);
}
