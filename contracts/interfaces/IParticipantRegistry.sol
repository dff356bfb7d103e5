// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Kimberley Process participant registry
/// @notice Who takes part in the KP Certification Scheme, whether each participant may
/// trade right now (and at any past block), and which accounts act for it.
/// @dev Accounts act through participant-scoped roles of OpenZeppelin AccessControl:
/// `authorityRole(code)` is administered by governance, `exporterRole(code)` and
/// `importerRole(code)` by that participant's authorities. Scoped roles change only
/// through the dedicated functions below, so every change emits a domain event.
interface IParticipantRegistry {
    /// @notice Life-cycle state of a participant. `Unknown` means never admitted.
    enum ParticipantStatus {
        Unknown,
        Active,
        Suspended
    }

    /// @notice A participant as stored on chain.
    struct Participant {
        bytes2 code;
        ParticipantStatus status;
        uint16 validityDays;
        uint40 admittedBlock;
        string name;
    }

    /// @notice One entry of a participant's status history.
    struct StatusChange {
        ParticipantStatus status;
        uint40 blockNumber;
        uint40 timestamp;
    }

    /// @notice A participant's role kind, used by the scoped-role events.
    enum RoleKind {
        Authority,
        Exporter,
        Importer
    }

    // ------------------------------------------------------------------ events

    /// @notice Governance admitted a participant.
    event ParticipantAdmitted(bytes2 indexed code, address indexed by, string name, uint16 validityDays);
    /// @notice Governance suspended a participant; it may not issue or receive certificates.
    event ParticipantSuspended(bytes2 indexed code, address indexed by, string reason);
    /// @notice Governance readmitted a suspended participant.
    event ParticipantReadmitted(bytes2 indexed code, address indexed by, string reason);
    /// @notice Governance changed how long a participant's certificates may stay valid.
    event ValidityPeriodChanged(bytes2 indexed code, address indexed by, uint16 validityDays);
    /// @notice An account received a participant-scoped role.
    event ParticipantRoleGranted(bytes2 indexed code, address indexed account, address indexed by, RoleKind kind);
    /// @notice An account lost a participant-scoped role.
    event ParticipantRoleRevoked(bytes2 indexed code, address indexed account, address indexed by, RoleKind kind);

    // ------------------------------------------------------------------ errors

    /// @notice The code is neither an assigned ISO 3166-1 alpha-2 code nor `EU`.
    error RegistryInvalidParticipantCode(bytes2 code);
    /// @notice The participant was admitted before.
    error RegistryParticipantAlreadyAdmitted(bytes2 code);
    /// @notice No participant has this code.
    error RegistryParticipantUnknown(bytes2 code);
    /// @notice The participant is not active (suspended), so it may not trade.
    error RegistryParticipantNotActive(bytes2 code, ParticipantStatus status);
    /// @notice Readmission needs a suspended participant.
    error RegistryParticipantNotSuspended(bytes2 code, ParticipantStatus status);
    /// @notice A participant's name must be 1 to 200 bytes.
    error RegistryInvalidParticipantName(bytes2 code);
    /// @notice Validity periods are 1 to 366 days.
    error RegistryInvalidValidityPeriod(bytes2 code, uint16 validityDays);
    /// @notice The zero address cannot hold a role.
    error RegistryZeroAccount();
    /// @notice The account already holds this participant-scoped role.
    error RegistryRoleAlreadyHeld(bytes2 code, address account, RoleKind kind);
    /// @notice The account does not hold this participant-scoped role.
    error RegistryRoleNotHeld(bytes2 code, address account, RoleKind kind);
    /// @notice Participant-scoped roles change only through the registry's own functions.
    error RegistryScopedRoleManagedByRegistry(bytes32 role);

    // ------------------------------------------------------------------ governance

    /// @notice Admits a participant as active. Only governance.
    /// @param code ISO 3166-1 alpha-2 code, or `EU`.
    /// @param name Display name, 1 to 200 bytes.
    /// @param validityDays Longest validity of its certificates, 1 to 366 days.
    function admitParticipant(bytes2 code, string calldata name, uint16 validityDays) external;

    /// @notice Suspends an active participant. Only governance.
    function suspendParticipant(bytes2 code, string calldata reason) external;

    /// @notice Readmits a suspended participant. Only governance.
    function readmitParticipant(bytes2 code, string calldata reason) external;

    /// @notice Changes a participant's certificate validity period. Only governance.
    function setValidityPeriod(bytes2 code, uint16 validityDays) external;

    /// @notice Appoints an account as one of a participant's authorities. Only governance.
    function appointAuthority(bytes2 code, address account) external;

    /// @notice Removes an authority account (lost or rotated key). Only governance.
    function revokeAuthority(bytes2 code, address account) external;

    // ------------------------------------------------------------------ authorities

    /// @notice Licenses an exporter of the participant. Only that participant's authorities.
    function licenseExporter(bytes2 code, address account) external;

    /// @notice Withdraws an exporter's licence. Only that participant's authorities.
    function delistExporter(bytes2 code, address account) external;

    /// @notice Licenses an importer of the participant. Only that participant's authorities.
    function licenseImporter(bytes2 code, address account) external;

    /// @notice Withdraws an importer's licence. Only that participant's authorities.
    function delistImporter(bytes2 code, address account) external;

    // ------------------------------------------------------------------ reads

    /// @notice Role id of a participant's authorities.
    function authorityRole(bytes2 code) external pure returns (bytes32);

    /// @notice Whether `code` may name a participant: an assigned ISO 3166-1 alpha-2 code
    /// (the 249 of ISO 3166-1, as pycountry lists them) or `EU`. The same rule as the
    /// certificate model's `PARTICIPANT_CODES`.
    function isParticipantCode(bytes2 code) external pure returns (bool);

    /// @notice Role id of a participant's licensed exporters.
    function exporterRole(bytes2 code) external pure returns (bytes32);

    /// @notice Role id of a participant's licensed importers.
    function importerRole(bytes2 code) external pure returns (bytes32);

    /// @notice Whether `account` is an authority of `code`.
    function isAuthority(bytes2 code, address account) external view returns (bool);

    /// @notice Whether `account` is a licensed exporter of `code`.
    function isExporter(bytes2 code, address account) external view returns (bool);

    /// @notice Whether `account` is a licensed importer of `code`.
    function isImporter(bytes2 code, address account) external view returns (bool);

    /// @notice The participant with this code; `status` is `Unknown` if never admitted.
    function participant(bytes2 code) external view returns (Participant memory);

    /// @notice Current status; `Unknown` if never admitted.
    function statusOf(bytes2 code) external view returns (ParticipantStatus);

    /// @notice Status in force at the end of block `blockNumber`.
    function statusAt(bytes2 code, uint256 blockNumber) external view returns (ParticipantStatus);

    /// @notice Every status change of a participant, oldest first.
    function statusHistory(bytes2 code) external view returns (StatusChange[] memory);

    /// @notice Codes of every admitted participant, in order of admission.
    function participantCodes() external view returns (bytes2[] memory);

    /// @notice Reverts unless `account` is an authority of `code`.
    function requireAuthority(bytes2 code, address account) external view;

    /// @notice Reverts unless `account` is an authority of `code` and `code` is active.
    function requireActiveAuthority(bytes2 code, address account) external view;

    /// @notice Reverts unless both participants are known and active and `account` is
    /// an authority of `origin`; returns the origin's validity period. One call for the
    /// ledger's hot path.
    function requireIssuer(bytes2 origin, bytes2 destination, address account) external view returns (uint16 validityDays);

    /// @notice Reverts unless both participants are known and active and `account` is a
    /// licensed exporter of `origin`; returns the origin's validity period.
    function requireExporter(bytes2 origin, bytes2 destination, address account) external view returns (uint16 validityDays);
}
