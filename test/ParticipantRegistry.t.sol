// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ParticipantRegistry} from "../contracts/ParticipantRegistry.sol";
import {IParticipantRegistry} from "../contracts/interfaces/IParticipantRegistry.sol";

/// @dev The few cheatcodes used here. forge-std is not a dependency (it is installed
/// from GitHub, which this build cannot reach), so the interface is declared inline.
interface Vm {
    function prank(address sender) external;
    function expectRevert(bytes calldata revertData) external;
    function roll(uint256 blockNumber) external;
}

/// @notice Smoke tests of the registry run by `hardhat test solidity` on EDR. The full
/// behaviour is specified by the Python test suite; these check that the Solidity test
/// path works and guard the role wiring from the contract side.
contract ParticipantRegistryTest {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address private constant GOVERNANCE = address(0x60B);
    address private constant AUTHORITY = address(0xA117);
    address private constant EXPORTER = address(0xE4);
    bytes2 private constant BW = "BW";
    bytes2 private constant BE = "BE";

    ParticipantRegistry private _registry;

    function setUp() public {
        _registry = new ParticipantRegistry(GOVERNANCE);
        VM.prank(GOVERNANCE);
        _registry.admitParticipant(BW, "Botswana", 60);
        VM.prank(GOVERNANCE);
        _registry.admitParticipant(BE, "European Union", 90);
    }

    function testAdmittedParticipantIsActive() public view {
        require(_registry.statusOf(BW) == IParticipantRegistry.ParticipantStatus.Active, "BW not active");
        require(_registry.participantCodes().length == 2, "two participants");
    }

    function testOnlyGovernanceAdmits() public {
        VM.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), _registry.GOVERNANCE_ROLE()
            )
        );
        _registry.admitParticipant("ZA", "South Africa", 60);
    }

    function testRejectsLowercaseCode() public {
        VM.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.RegistryInvalidParticipantCode.selector, bytes2("bw"))
        );
        VM.prank(GOVERNANCE);
        _registry.admitParticipant("bw", "Botswana", 60);
    }

    function testScopedRolesOnlyThroughRegistry() public {
        bytes32 role = _registry.exporterRole(BW);
        VM.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.RegistryScopedRoleManagedByRegistry.selector, role)
        );
        VM.prank(GOVERNANCE);
        _registry.grantRole(role, EXPORTER);
    }

    function testAuthorityLicensesExporterWhoMayTrade() public {
        VM.prank(GOVERNANCE);
        _registry.appointAuthority(BW, AUTHORITY);
        VM.prank(AUTHORITY);
        _registry.licenseExporter(BW, EXPORTER);
        require(_registry.requireExporter(BW, BE, EXPORTER) == 60, "validity days of origin");
    }

    function testStatusAtFollowsHistory() public {
        uint256 admitted = block.number;
        VM.roll(admitted + 10);
        VM.prank(GOVERNANCE);
        _registry.suspendParticipant(BW, "plenary decision");
        require(_registry.statusAt(BW, admitted) == IParticipantRegistry.ParticipantStatus.Active, "active before");
        require(_registry.statusAt(BW, admitted + 10) == IParticipantRegistry.ParticipantStatus.Suspended, "suspended");
        require(_registry.statusAt(BW, admitted - 1) == IParticipantRegistry.ParticipantStatus.Unknown, "unknown");
    }
}
