// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title ParticipantRegistry
/// @notice KP participants, their status history and the accounts acting for them.
contract ParticipantRegistry is IParticipantRegistry, AccessControl {
    /// @notice KP governance (Chair / Secretariat acting on plenary decisions).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice Read-only marker for auditors and observers.
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");
    /// @notice Seed of the participant-scoped authority roles.
    bytes32 public constant AUTHORITY_ROLE = keccak256("AUTHORITY_ROLE");
    /// @notice Seed of the participant-scoped exporter roles.
    bytes32 public constant EXPORTER_ROLE = keccak256("EXPORTER_ROLE");
    /// @notice Seed of the participant-scoped importer roles.
    bytes32 public constant IMPORTER_ROLE = keccak256("IMPORTER_ROLE");

    uint256 private constant _MAX_NAME_BYTES = 200;
    uint16 private constant _MAX_VALIDITY_DAYS = 366;

    /// @dev Not keys: the bitmap of assigned participant codes that `_isValidCode` reads.
    uint256 private constant _CODES_0 = 0x340400f7818068d0015fb9fb0095c001e00d48015843f27deddbdefeedf5978;
    uint256 private constant _CODES_1 = 0x9fbb3ae7fdf1510040000001538f3c400100084b25d7fffcfd4f8141f42b1d00;
    uint256 private constant _CODES_2 = 0x001004004080010000000004002004085570410419a;

    mapping(bytes2 code => Participant) private _participants;
    mapping(bytes2 code => StatusChange[]) private _history;
    bytes2[] private _codes;

    /// @param governance First holder of the admin and governance roles.
    constructor(address governance) {
        if (governance == address(0)) revert RegistryZeroAccount();
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(GOVERNANCE_ROLE, governance);
        _setRoleAdmin(AUDITOR_ROLE, GOVERNANCE_ROLE);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IParticipantRegistry
    function admitParticipant(bytes2 code, string calldata name, uint16 validityDays)
        external
        onlyRole(GOVERNANCE_ROLE)
    {
        if (!_isValidCode(code)) revert RegistryInvalidParticipantCode(code);
        if (_participants[code].status != ParticipantStatus.Unknown) revert RegistryParticipantAlreadyAdmitted(code);
        if (bytes(name).length == 0 || bytes(name).length > _MAX_NAME_BYTES) revert RegistryInvalidParticipantName(code);
        _checkValidity(code, validityDays);

        _participants[code] = Participant({
            code: code,
            status: ParticipantStatus.Active,
            validityDays: validityDays,
            admittedBlock: uint40(block.number),
            name: name
        });
        _codes.push(code);
        _recordStatus(code, ParticipantStatus.Active);

        bytes32 authority = authorityRole(code);
        _setRoleAdmin(authority, GOVERNANCE_ROLE);
        _setRoleAdmin(exporterRole(code), authority);
        _setRoleAdmin(importerRole(code), authority);
        emit ParticipantAdmitted(code, _msgSender(), name, validityDays);
    }

    /// @inheritdoc IParticipantRegistry
    function suspendParticipant(bytes2 code, string calldata reason) external onlyRole(GOVERNANCE_ROLE) {
        ParticipantStatus status = _knownStatus(code);
        if (status != ParticipantStatus.Active) revert RegistryParticipantNotActive(code, status);
        _participants[code].status = ParticipantStatus.Suspended;
        _recordStatus(code, ParticipantStatus.Suspended);
        emit ParticipantSuspended(code, _msgSender(), reason);
    }

    /// @inheritdoc IParticipantRegistry
    function readmitParticipant(bytes2 code, string calldata reason) external onlyRole(GOVERNANCE_ROLE) {
        ParticipantStatus status = _knownStatus(code);
        if (status != ParticipantStatus.Suspended) revert RegistryParticipantNotSuspended(code, status);
        _participants[code].status = ParticipantStatus.Active;
        _recordStatus(code, ParticipantStatus.Active);
        emit ParticipantReadmitted(code, _msgSender(), reason);
    }

    /// @inheritdoc IParticipantRegistry
    function setValidityPeriod(bytes2 code, uint16 validityDays) external onlyRole(GOVERNANCE_ROLE) {
        _knownStatus(code);
        _checkValidity(code, validityDays);
        _participants[code].validityDays = validityDays;
        emit ValidityPeriodChanged(code, _msgSender(), validityDays);
    }

    /// @inheritdoc IParticipantRegistry
    function appointAuthority(bytes2 code, address account) external onlyRole(GOVERNANCE_ROLE) {
        _grantScoped(code, account, RoleKind.Authority);
    }

    /// @inheritdoc IParticipantRegistry
    function revokeAuthority(bytes2 code, address account) external onlyRole(GOVERNANCE_ROLE) {
        _revokeScoped(code, account, RoleKind.Authority);
    }

    // ------------------------------------------------------------------ authorities

    /// @inheritdoc IParticipantRegistry
    function licenseExporter(bytes2 code, address account) external onlyRole(authorityRole(code)) {
        _grantScoped(code, account, RoleKind.Exporter);
    }

    /// @inheritdoc IParticipantRegistry
    function delistExporter(bytes2 code, address account) external onlyRole(authorityRole(code)) {
        _revokeScoped(code, account, RoleKind.Exporter);
    }

    /// @inheritdoc IParticipantRegistry
    function licenseImporter(bytes2 code, address account) external onlyRole(authorityRole(code)) {
        _grantScoped(code, account, RoleKind.Importer);
    }

    /// @inheritdoc IParticipantRegistry
    function delistImporter(bytes2 code, address account) external onlyRole(authorityRole(code)) {
        _revokeScoped(code, account, RoleKind.Importer);
    }

    /// @notice Scoped roles change only through the functions above; others as usual.
    function grantRole(bytes32 role, address account) public override {
        _requireUnscoped(role);
        super.grantRole(role, account);
    }

    /// @notice Scoped roles change only through the functions above; others as usual.
    function revokeRole(bytes32 role, address account) public override {
        _requireUnscoped(role);
        super.revokeRole(role, account);
    }

    /// @notice Scoped roles are removed by governance or the participant's authority, so
    /// that the registry always says which accounts act for a participant.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        _requireUnscoped(role);
        super.renounceRole(role, callerConfirmation);
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc IParticipantRegistry
    function authorityRole(bytes2 code) public pure returns (bytes32) {
        return keccak256(abi.encode(AUTHORITY_ROLE, code));
    }

    /// @inheritdoc IParticipantRegistry
    function exporterRole(bytes2 code) public pure returns (bytes32) {
        return keccak256(abi.encode(EXPORTER_ROLE, code));
    }

    /// @inheritdoc IParticipantRegistry
    function importerRole(bytes2 code) public pure returns (bytes32) {
        return keccak256(abi.encode(IMPORTER_ROLE, code));
    }

    /// @inheritdoc IParticipantRegistry
    function isAuthority(bytes2 code, address account) external view returns (bool) {
        return hasRole(authorityRole(code), account);
    }

    /// @inheritdoc IParticipantRegistry
    function isExporter(bytes2 code, address account) external view returns (bool) {
        return hasRole(exporterRole(code), account);
    }

    /// @inheritdoc IParticipantRegistry
    function isImporter(bytes2 code, address account) external view returns (bool) {
        return hasRole(importerRole(code), account);
    }

    /// @inheritdoc IParticipantRegistry
    function participant(bytes2 code) external view returns (Participant memory) {
        return _participants[code];
    }

    /// @inheritdoc IParticipantRegistry
    function statusOf(bytes2 code) external view returns (ParticipantStatus) {
        return _participants[code].status;
    }

    /// @inheritdoc IParticipantRegistry
    function statusAt(bytes2 code, uint256 blockNumber) external view returns (ParticipantStatus) {
        StatusChange[] storage history = _history[code];
        // Binary search for the last change at or before `blockNumber`.
        uint256 low = 0;
        uint256 high = history.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (history[mid].blockNumber > blockNumber) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        return low == 0 ? ParticipantStatus.Unknown : history[low - 1].status;
    }

    /// @inheritdoc IParticipantRegistry
    function statusHistory(bytes2 code) external view returns (StatusChange[] memory) {
        return _history[code];
    }

    /// @inheritdoc IParticipantRegistry
    function participantCodes() external view returns (bytes2[] memory) {
        return _codes;
    }

    /// @inheritdoc IParticipantRegistry
    function requireAuthority(bytes2 code, address account) external view {
        _checkRole(authorityRole(code), account);
    }

    /// @inheritdoc IParticipantRegistry
    function requireActiveAuthority(bytes2 code, address account) external view {
        _checkRole(authorityRole(code), account);
        ParticipantStatus status = _participants[code].status;
        if (status != ParticipantStatus.Active) _revertInactive(code, status);
    }

    /// @inheritdoc IParticipantRegistry
    function requireIssuer(bytes2 origin, bytes2 destination, address account) external view returns (uint16) {
        return _requireTrade(origin, destination, account, authorityRole(origin));
    }

    /// @inheritdoc IParticipantRegistry
    function requireExporter(bytes2 origin, bytes2 destination, address account) external view returns (uint16) {
        return _requireTrade(origin, destination, account, exporterRole(origin));
    }

    // ------------------------------------------------------------------ internals

    function _requireTrade(bytes2 origin, bytes2 destination, address account, bytes32 role)
        private
        view
        returns (uint16)
    {
        _checkRole(role, account);
        Participant storage from = _participants[origin];
        if (from.status != ParticipantStatus.Active) _revertInactive(origin, from.status);
        ParticipantStatus toStatus = _participants[destination].status;
        if (toStatus != ParticipantStatus.Active) _revertInactive(destination, toStatus);
        return from.validityDays;
    }

    /// @dev Only the three registry-wide roles go through AccessControl's own functions.
    /// Every other role id may be (or later become) a participant-scoped role, even of a
    /// participant not admitted yet, so it is refused: scoped roles change only with a
    /// `ParticipantRoleGranted` / `ParticipantRoleRevoked` event an auditor can replay.
    function _requireUnscoped(bytes32 role) private pure {
        if (role != DEFAULT_ADMIN_ROLE && role != GOVERNANCE_ROLE && role != AUDITOR_ROLE) {
            revert RegistryScopedRoleManagedByRegistry(role);
        }
    }

    function _revertInactive(bytes2 code, ParticipantStatus status) private pure {
        if (status == ParticipantStatus.Unknown) revert RegistryParticipantUnknown(code);
        revert RegistryParticipantNotActive(code, status);
    }

    function _knownStatus(bytes2 code) private view returns (ParticipantStatus status) {
        status = _participants[code].status;
        // An enum, not a balance: an exact match is the rule.
        // slither-disable-next-line incorrect-equality
        if (status == ParticipantStatus.Unknown) revert RegistryParticipantUnknown(code);
    }

    function _grantScoped(bytes2 code, address account, RoleKind kind) private {
        _knownStatus(code);
        if (account == address(0)) revert RegistryZeroAccount();
        if (!_grantRole(_scopedRole(code, kind), account)) revert RegistryRoleAlreadyHeld(code, account, kind);
        emit ParticipantRoleGranted(code, account, _msgSender(), kind);
    }

    function _revokeScoped(bytes2 code, address account, RoleKind kind) private {
        _knownStatus(code);
        if (!_revokeRole(_scopedRole(code, kind), account)) revert RegistryRoleNotHeld(code, account, kind);
        emit ParticipantRoleRevoked(code, account, _msgSender(), kind);
    }

    function _scopedRole(bytes2 code, RoleKind kind) private pure returns (bytes32) {
        if (kind == RoleKind.Authority) return authorityRole(code);
        if (kind == RoleKind.Exporter) return exporterRole(code);
        return importerRole(code);
    }

    function _recordStatus(bytes2 code, ParticipantStatus status) private {
        _history[code].push(
            StatusChange({status: status, blockNumber: uint40(block.number), timestamp: uint40(block.timestamp)})
        );
    }

    function _checkValidity(bytes2 code, uint16 validityDays) private pure {
        if (validityDays == 0 || validityDays > _MAX_VALIDITY_DAYS) revert RegistryInvalidValidityPeriod(code, validityDays);
    }

    /// @inheritdoc IParticipantRegistry
    function isParticipantCode(bytes2 code) external pure returns (bool) {
        return _isValidCode(code);
    }

    /// @dev Bit `(first - 'A') * 26 + (second - 'A')` of the 676-bit map is set for each
    /// assigned ISO 3166-1 alpha-2 code and `EU` (generated from pycountry; the test
    /// `test_participant_codes_are_one_rule` holds it equal to the Python rule).
    function _isValidCode(bytes2 code) private pure returns (bool) {
        uint256 first = uint8(code[0]);
        uint256 second = uint8(code[1]);
        if (first < 0x41 || first > 0x5A || second < 0x41 || second > 0x5A) return false;
        uint256 index = (first - 0x41) * 26 + (second - 0x41);
        uint256 word = index < 256 ? _CODES_0 : (index < 512 ? _CODES_1 : _CODES_2);
        return (word >> (index % 256)) & 1 == 1;
    }
}
