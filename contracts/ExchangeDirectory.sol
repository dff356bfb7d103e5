// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IExchangeDirectory} from "./interfaces/IExchangeDirectory.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title ExchangeDirectory
/// @notice Exchange keys and inbox URLs of the KP participants, with their history.
contract ExchangeDirectory is IExchangeDirectory {
    /// @notice The registry's governance role (same value as ParticipantRegistry.GOVERNANCE_ROLE).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");

    uint256 private constant _MAX_URL_BYTES = 512;
    uint256 private constant _MAX_REASON_BYTES = 500;

    IParticipantRegistry private immutable _registry;

    mapping(bytes2 code => ExchangeKey[]) private _keys;
    mapping(bytes2 code => mapping(bytes32 keyId => uint256 position)) private _positionPlusOne;
    mapping(bytes32 keyId => bool) private _published;
    mapping(bytes2 code => string) private _inboxUrls;

    /// @param participantRegistry The registry whose authorities and governance act here.
    constructor(IParticipantRegistry participantRegistry) {
        _registry = participantRegistry;
    }

    // ------------------------------------------------------------------ writes

    /// @inheritdoc IExchangeDirectory
    function publishKey(bytes2 code, uint16 algorithm, bytes calldata publicKey) external returns (bytes32 keyId) {
        _registry.requireAuthority(code, msg.sender);
        uint256 expected = _publicKeyLength(algorithm);
        if (publicKey.length != expected) revert DirectoryInvalidPublicKey(algorithm, publicKey.length);
        keyId = keccak256(abi.encodePacked(algorithm, publicKey));
        if (_published[keyId]) revert DirectoryKeyAlreadyPublished(keyId);
        _published[keyId] = true;

        ExchangeKey[] storage keys = _keys[code];
        uint256 count = keys.length;
        bytes32 previous = bytes32(0);
        if (count > 0 && keys[count - 1].validTo == 0) {
            keys[count - 1].validTo = uint40(block.number);
            previous = keys[count - 1].keyId;
        }
        keys.push(
            ExchangeKey({
                keyId: keyId,
                algorithm: algorithm,
                validFrom: uint40(block.number),
                validTo: 0,
                revoked: false,
                publishedBy: msg.sender,
                publicKey: publicKey
            })
        );
        _positionPlusOne[code][keyId] = count + 1;
        if (previous != bytes32(0)) emit ExchangeKeyRotated(code, previous, keyId);
        emit ExchangeKeyPublished(code, keyId, msg.sender, algorithm, publicKey);
    }

    /// @inheritdoc IExchangeDirectory
    function revokeKey(bytes2 code, bytes32 keyId, string calldata reason) external {
        if (!IAccessControl(address(_registry)).hasRole(GOVERNANCE_ROLE, msg.sender)) {
            _registry.requireAuthority(code, msg.sender);
        }
        uint256 bytesOfReason = bytes(reason).length;
        if (bytesOfReason == 0 || bytesOfReason > _MAX_REASON_BYTES) revert DirectoryInvalidReason(code);
        ExchangeKey storage key = _keys[code][_position(code, keyId)];
        if (key.revoked) revert DirectoryKeyAlreadyRevoked(code, keyId);
        key.revoked = true;
        if (key.validTo == 0) key.validTo = uint40(block.number);
        emit ExchangeKeyRevoked(code, keyId, msg.sender, reason);
    }

    /// @inheritdoc IExchangeDirectory
    function setInboxUrl(bytes2 code, string calldata url) external {
        _registry.requireAuthority(code, msg.sender);
        if (!_validUrl(bytes(url))) revert DirectoryInvalidInboxUrl(code);
        _inboxUrls[code] = url;
        emit InboxUrlChanged(code, msg.sender, url);
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc IExchangeDirectory
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IExchangeDirectory
    function currentKey(bytes2 code) external view returns (ExchangeKey memory empty) {
        ExchangeKey[] storage keys = _keys[code];
        uint256 count = keys.length;
        if (count > 0 && keys[count - 1].validTo == 0) return keys[count - 1];
        return empty;
    }

    /// @inheritdoc IExchangeDirectory
    function keyAt(bytes2 code, uint256 blockNumber) external view returns (ExchangeKey memory empty) {
        ExchangeKey[] storage keys = _keys[code];
        for (uint256 i = keys.length; i > 0; --i) {
            ExchangeKey storage key = keys[i - 1];
            if (key.validFrom > blockNumber) continue;
            // In force at the end of `blockNumber`: published by then, not yet ended by then.
            if (key.validTo == 0 || key.validTo > blockNumber) return key;
            return empty;
        }
        return empty;
    }

    /// @inheritdoc IExchangeDirectory
    function keyById(bytes2 code, bytes32 keyId) external view returns (ExchangeKey memory) {
        return _keys[code][_position(code, keyId)];
    }

    /// @inheritdoc IExchangeDirectory
    function keyHistory(bytes2 code) external view returns (ExchangeKey[] memory) {
        return _keys[code];
    }

    /// @inheritdoc IExchangeDirectory
    function inboxUrl(bytes2 code) external view returns (string memory) {
        return _inboxUrls[code];
    }

    // ------------------------------------------------------------------ internals

    function _position(bytes2 code, bytes32 keyId) private view returns (uint256) {
        uint256 plusOne = _positionPlusOne[code][keyId];
        if (plusOne == 0) revert DirectoryKeyUnknown(code, keyId);
        return plusOne - 1;
    }

    /// @dev RFC 9180 §7.1: Npk of each DHKEM.
    function _publicKeyLength(uint16 algorithm) private pure returns (uint256) {
        if (algorithm == 0x0010) return 65; // DHKEM(P-256, HKDF-SHA256)
        if (algorithm == 0x0011) return 97; // DHKEM(P-384, HKDF-SHA384)
        if (algorithm == 0x0012) return 133; // DHKEM(P-521, HKDF-SHA512)
        if (algorithm == 0x0020) return 32; // DHKEM(X25519, HKDF-SHA256)
        if (algorithm == 0x0021) return 56; // DHKEM(X448, HKDF-SHA512)
        revert DirectoryUnsupportedAlgorithm(algorithm);
    }

    function _validUrl(bytes memory url) private pure returns (bool) {
        if (url.length == 0) return true;
        if (url.length > _MAX_URL_BYTES) return false;
        return _startsWith(url, "https://") || _startsWith(url, "http://");
    }

    function _startsWith(bytes memory value, bytes memory prefix) private pure returns (bool) {
        if (value.length <= prefix.length) return false;
        for (uint256 i = 0; i < prefix.length; ++i) {
            if (value[i] != prefix[i]) return false;
        }
        return true;
    }
}
