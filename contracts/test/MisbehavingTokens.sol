// SPDX-License-Identifier: MIT
// Test-only attack harnesses, kept together on purpose.
// solhint-disable one-contract-per-file
pragma solidity ^0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Attack harness: takes 1% of every transfer (fee-on-transfer token).
contract FeeOnTransferToken is ERC20 {
    constructor() ERC20("Fee Token", "FEE") {}

    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 cut = value / 100;
            super._update(from, address(0xdead), cut);
            super._update(from, to, value - cut);
        } else {
            super._update(from, to, value);
        }
    }
}

/// @notice Attack harness: on every transfer out of the pool it calls back into the pool
/// with calldata chosen by the test, to prove reentrancy is refused.
contract ReentrantToken is ERC20 {
    address public reentryTarget;
    bytes public payload;
    bool public reentered;
    bytes public reentryError;

    constructor() ERC20("Reentrant Token", "REENT") {}

    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    function arm(address target_, bytes calldata payload_) external {
        reentryTarget = target_;
        payload = payload_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (reentryTarget != address(0) && from == reentryTarget) {
            address t = reentryTarget;
            reentryTarget = address(0);
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory err) = t.call(payload);
            reentered = ok;
            reentryError = err;
        }
    }
}

/// @notice Attack harness: transfers return false instead of reverting.
contract FalseReturningToken is ERC20 {
    bool public failTransfers;

    constructor() ERC20("False Token", "FALSE") {}

    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    function setFail(bool fail) external {
        failTransfers = fail;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (failTransfers) return false;
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (failTransfers) return false;
        return super.transferFrom(from, to, value);
    }
}
