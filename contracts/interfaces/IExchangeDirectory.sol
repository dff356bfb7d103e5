// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Exchange directory of the KP participants
/// @notice Where an authority finds the public key to encrypt a certificate envelope for
/// another participant, and the inbox URL to deliver it to. Every key ever published is
/// kept with the blocks it was in force, so a verifier can tell which key a participant
/// had at any block: publishing a new key rotates the previous one out, and a key can be
/// revoked (by the participant's authorities or by KP governance) when it is compromised.
/// @dev Roles are read from the ParticipantRegistry: an authority of participant P is an
/// account holding `authorityRole(P)` there; governance is the registry's
/// `GOVERNANCE_ROLE`. A key id is `keccak256(abi.encodePacked(algorithm, publicKey))`,
/// so the same key can never be published twice.
interface IExchangeDirectory {
    /// @notice One exchange key of a participant.
    /// @param keyId `keccak256(abi.encodePacked(algorithm, publicKey))`.
    /// @param algorithm HPKE KEM identifier (RFC 9180 §7.1), e.g. 0x0020 for DHKEM(X25519, HKDF-SHA256).
    /// @param publicKey The KEM public key in RFC 9180's SerializePublicKey form.
    /// @param validFrom Block in which the key was published (in force from then on).
    /// @param validTo Block in which it was rotated out or revoked; 0 while in force.
    /// @param revoked Whether it ended by revocation (a compromised key) rather than rotation.
    /// @param publishedBy The authority account that published it.
    struct ExchangeKey {
        bytes32 keyId;
        uint16 algorithm;
        uint40 validFrom;
        uint40 validTo;
        bool revoked;
        address publishedBy;
        bytes publicKey;
    }

    // ------------------------------------------------------------------ events

    /// @notice An authority published a new exchange key; it is in force from this block.
    event ExchangeKeyPublished(
        bytes2 indexed code, bytes32 indexed keyId, address indexed by, uint16 algorithm, bytes publicKey
    );
    /// @notice A newer key replaced this one; envelopes sealed before stay readable.
    event ExchangeKeyRotated(bytes2 indexed code, bytes32 indexed keyId, bytes32 indexed replacedBy);
    /// @notice A key was revoked (compromised or withdrawn); no envelope for it is accepted.
    event ExchangeKeyRevoked(bytes2 indexed code, bytes32 indexed keyId, address indexed by, string reason);
    /// @notice A participant's inbox URL changed; empty means "no reachable inbox, use a relay".
    event InboxUrlChanged(bytes2 indexed code, address indexed by, string url);

    // ------------------------------------------------------------------ errors

    /// @notice The algorithm is not an HPKE KEM this directory knows the key size of.
    error DirectoryUnsupportedAlgorithm(uint16 algorithm);
    /// @notice The public key's length does not fit the algorithm.
    error DirectoryInvalidPublicKey(uint16 algorithm, uint256 length);
    /// @notice This key was published before (by this or another participant).
    error DirectoryKeyAlreadyPublished(bytes32 keyId);
    /// @notice The participant has no key with this id.
    error DirectoryKeyUnknown(bytes2 code, bytes32 keyId);
    /// @notice The key was revoked before.
    error DirectoryKeyAlreadyRevoked(bytes2 code, bytes32 keyId);
    /// @notice An inbox URL is at most 512 bytes and starts with `https://` or `http://`.
    error DirectoryInvalidInboxUrl(bytes2 code);
    /// @notice A revocation needs a reason of 1 to 500 bytes.
    error DirectoryInvalidReason(bytes2 code);

    // ------------------------------------------------------------------ writes

    /// @notice Publishes a new exchange key of `code`, rotating the current one out.
    /// Only an authority of `code`.
    /// @return keyId The new key's id.
    function publishKey(bytes2 code, uint16 algorithm, bytes calldata publicKey) external returns (bytes32 keyId);

    /// @notice Revokes a key of `code`. Only an authority of `code`, or governance.
    function revokeKey(bytes2 code, bytes32 keyId, string calldata reason) external;

    /// @notice Sets (or clears, with "") the inbox URL of `code`. Only an authority of `code`.
    function setInboxUrl(bytes2 code, string calldata url) external;

    // ------------------------------------------------------------------ reads

    /// @notice The registry whose roles this directory obeys.
    function registry() external view returns (address);

    /// @notice The key in force now, or an empty key (`keyId == 0`) if none is.
    function currentKey(bytes2 code) external view returns (ExchangeKey memory);

    /// @notice The key in force at the end of block `blockNumber`, or an empty key.
    function keyAt(bytes2 code, uint256 blockNumber) external view returns (ExchangeKey memory);

    /// @notice The key with this id; reverts DirectoryKeyUnknown if `code` never published it.
    function keyById(bytes2 code, bytes32 keyId) external view returns (ExchangeKey memory);

    /// @notice Every key `code` published, oldest first.
    function keyHistory(bytes2 code) external view returns (ExchangeKey[] memory);

    /// @notice The inbox URL of `code` ("" if it has none).
    function inboxUrl(bytes2 code) external view returns (string memory);
}
