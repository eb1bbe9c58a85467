// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ISanctionsList } from "../interfaces/ISanctionsList.sol";

/// @title MockSanctionsList
/// @notice TEST ONLY. A sanctions list anyone can edit, with the interface of Chainalysis'
/// on-chain oracle, to test deposit screening (`test/contracts/sanctions.test.ts`).
contract MockSanctionsList is ISanctionsList {
    mapping(address addr => bool listed) private _listed;

    /// @notice Lists (`listed`) or delists `addr`.
    function setSanctioned(address addr, bool listed) external {
        _listed[addr] = listed;
    }

    /// @inheritdoc ISanctionsList
    function isSanctioned(address addr) external view override returns (bool) {
        return _listed[addr];
    }
}
