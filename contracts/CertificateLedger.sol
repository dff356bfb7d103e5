// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ICertificateLedger} from "./interfaces/ICertificateLedger.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title CertificateLedger
/// @notice KP certificate hashes and their life cycle. Who may act is asked of the
/// participant registry; `Multicall` lets an importing authority reveal a batched
/// certificate and confirm it in one transaction.
contract CertificateLedger is ICertificateLedger, Multicall {
    uint256 private constant _MIN_NUMBER_BYTES = 5;
    uint256 private constant _MAX_NUMBER_BYTES = 34;
    uint256 private constant _MAX_REASON_BYTES = 1000;

    /// @dev Packed into three slots, so that a direct issue writes four fresh slots with
    /// the number index. The document hash is the mapping key, the number is stored
    /// without its two-letter prefix (which is `origin`), and the accounts that acted
    /// and the time of each block are in the events and block headers. Block numbers fit
    /// 32 bits (136 years of one-second blocks); days are counted from 1970-01-01 and fit
    /// 16 bits until 2149. `issuedDay` is kept because an import date is checked against
    /// it and a contract cannot read an old block's time.
    struct Record {
        bytes32 numberSuffix;
        address exporter;
        bytes2 origin;
        bytes2 destination;
        CertificateStatus status;
        uint40 carats;
        uint16 parcels;
        uint40 valueCents;
        uint40 expiresAt;
        uint32 requestedBlock;
        uint32 issuedBlock;
        uint32 respondedBlock;
        uint32 closedBlock;
        uint16 issuedDay;
        uint16 importedDay;
    }

    IParticipantRegistry private immutable _registry;

    mapping(bytes32 documentHash => Record) private _records;
    mapping(bytes32 numberId => bytes32 documentHash) private _hashByNumber;
    mapping(bytes32 documentHash => bytes32 replacement) private _supersededBy;
    mapping(bytes32 replacement => bytes32 documentHash) private _supersedes;
    mapping(bytes32 documentHash => bytes32 root) private _batchOf;
    mapping(bytes32 root => Batch) private _batches;

    /// @param participantRegistry The registry of participants and their accounts.
    constructor(IParticipantRegistry participantRegistry) {
        _registry = participantRegistry;
    }

    // ------------------------------------------------------------------ exporters

    /// @inheritdoc ICertificateLedger
    function anchor(CertificateInput calldata cert) external {
        _checkDistinct(cert);
        uint16 validityDays = _registry.requireExporter(cert.origin, cert.destination, msg.sender);
        _checkExpiry(cert.expiresAt, block.timestamp, validityDays);
        _store(cert, CertificateStatus.Requested, msg.sender, 0, 0);
        emit CertificateRequested(
            cert.documentHash,
            cert.origin,
            cert.destination,
            cert.number,
            msg.sender,
            cert.carats,
            cert.valueCents,
            cert.parcels,
            cert.expiresAt
        );
    }

    // ------------------------------------------------------------------ exporting authority

    /// @inheritdoc ICertificateLedger
    function validate(bytes32 documentHash) external {
        Record storage record = _existing(documentHash);
        // The validity period was checked when the exporter anchored; only the access and
        // participant checks matter here.
        // slither-disable-next-line unused-return
        _registry.requireIssuer(record.origin, record.destination, msg.sender);
        _expectStatus(documentHash, record, CertificateStatus.Requested);
        if (block.timestamp > record.expiresAt) revert CertificateExpired(documentHash, record.expiresAt);
        record.status = CertificateStatus.Issued;
        record.issuedBlock = uint32(block.number);
        record.issuedDay = uint16(block.timestamp / 1 days);
        emit CertificateValidated(documentHash, msg.sender);
    }

    /// @inheritdoc ICertificateLedger
    function issue(CertificateInput calldata cert, address exporter) external {
        if (exporter == address(0)) revert CertificateZeroExporter();
        _issueDirect(cert, exporter);
    }

    /// @inheritdoc ICertificateLedger
    function voidCertificate(bytes32 documentHash, string calldata reason) external {
        Record storage record = _existing(documentHash);
        _registry.requireAuthority(record.origin, msg.sender);
        CertificateStatus status = record.status;
        if (
            status != CertificateStatus.Requested && status != CertificateStatus.Issued
                && status != CertificateStatus.Disputed
        ) revert CertificateInvalidTransition(documentHash, status);
        _checkReason(reason, false);
        record.status = CertificateStatus.Voided;
        record.closedBlock = uint32(block.number);
        emit CertificateVoided(documentHash, msg.sender, reason);
    }

    /// @inheritdoc ICertificateLedger
    function amend(bytes32 documentHash, CertificateInput calldata replacement, string calldata reason) external {
        Record storage record = _existing(documentHash);
        _registry.requireAuthority(record.origin, msg.sender);
        if (replacement.origin != record.origin) {
            revert CertificateAmendmentOriginMismatch(record.origin, replacement.origin);
        }
        _expectStatus(documentHash, record, CertificateStatus.Issued);
        _checkReason(reason, false);
        address exporter = record.exporter;
        record.status = CertificateStatus.Superseded;
        record.closedBlock = uint32(block.number);
        _issueDirect(replacement, exporter);
        _supersededBy[documentHash] = replacement.documentHash;
        _supersedes[replacement.documentHash] = documentHash;
        emit CertificateSuperseded(documentHash, replacement.documentHash, msg.sender, reason);
    }

    /// @inheritdoc ICertificateLedger
    function anchorBatch(bytes2 origin, bytes32 root, uint256 count) external {
        _registry.requireActiveAuthority(origin, msg.sender);
        uint16 validityDays = _registry.participant(origin).validityDays;
        if (root == bytes32(0) || _batches[root].anchoredBlock != 0) revert BatchInvalidRoot(root);
        if (count == 0) revert BatchEmpty();
        _batches[root] = Batch({
            origin: origin,
            issuer: msg.sender,
            anchoredBlock: uint32(block.number),
            anchoredAt: uint40(block.timestamp),
            validityDays: validityDays
        });
        emit BatchAnchored(root, origin, msg.sender, count);
    }

    // ------------------------------------------------------------------ importing authority

    /// @inheritdoc ICertificateLedger
    function confirmReceipt(bytes32 documentHash, uint32 importedOn) external {
        Record storage record = _existing(documentHash);
        _registry.requireAuthority(record.destination, msg.sender);
        _expectStatus(documentHash, record, CertificateStatus.Issued);
        _checkImportDate(documentHash, record, importedOn);
        record.status = CertificateStatus.Received;
        record.closedBlock = uint32(block.number);
        record.importedDay = uint16(importedOn);
        emit CertificateReceived(documentHash, msg.sender, importedOn);
    }

    /// @inheritdoc ICertificateLedger
    function recordDiscrepancy(bytes32 documentHash, string calldata reason) external {
        Record storage record = _existing(documentHash);
        _registry.requireAuthority(record.destination, msg.sender);
        _expectStatus(documentHash, record, CertificateStatus.Issued);
        _checkReason(reason, false);
        record.status = CertificateStatus.Disputed;
        record.respondedBlock = uint32(block.number);
        emit CertificateDisputed(documentHash, msg.sender, reason);
    }

    /// @inheritdoc ICertificateLedger
    function resolveDispute(bytes32 documentHash, uint32 importedOn, string calldata note) external {
        Record storage record = _existing(documentHash);
        _registry.requireAuthority(record.destination, msg.sender);
        _expectStatus(documentHash, record, CertificateStatus.Disputed);
        _checkImportDate(documentHash, record, importedOn);
        _checkReason(note, true);
        record.status = CertificateStatus.Received;
        record.closedBlock = uint32(block.number);
        record.importedDay = uint16(importedOn);
        emit DisputeResolved(documentHash, msg.sender, importedOn, note);
    }

    // ------------------------------------------------------------------ anyone

    /// @inheritdoc ICertificateLedger
    function revealBatchCertificate(CertificateInput calldata cert, bytes32 root, bytes32[] calldata proof) external {
        Batch memory anchored = _provenBatch(cert, root, proof);
        _checkDistinct(cert);
        if (_registry.statusAt(cert.destination, anchored.anchoredBlock) != IParticipantRegistry.ParticipantStatus.Active)
        {
            revert BatchDestinationNotActive(root, cert.destination);
        }
        _checkExpiry(cert.expiresAt, anchored.anchoredAt, anchored.validityDays);
        _store(cert, CertificateStatus.Issued, address(0), anchored.anchoredBlock, anchored.anchoredAt);
        _batchOf[cert.documentHash] = root;
        _emitIssued(cert, address(0), anchored.issuer, root);
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc ICertificateLedger
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ICertificateLedger
    function certificate(bytes32 documentHash) public view returns (Certificate memory view_) {
        Record storage record = _records[documentHash];
        if (record.status == CertificateStatus.None) return view_;
        view_ = Certificate({
            documentHash: documentHash,
            number: _number(record),
            origin: record.origin,
            destination: record.destination,
            status: _derivedStatus(record),
            storedStatus: record.status,
            carats: record.carats,
            valueCents: record.valueCents,
            parcels: record.parcels,
            expiresAt: record.expiresAt,
            exporter: record.exporter,
            requestedBlock: record.requestedBlock,
            issuedBlock: record.issuedBlock,
            respondedBlock: record.respondedBlock,
            closedBlock: record.closedBlock,
            supersedes: _supersedes[documentHash],
            supersededBy: _supersededBy[documentHash],
            batchRoot: _batchOf[documentHash],
            issuedOn: record.issuedDay,
            importedOn: record.importedDay
        });
    }

    /// @inheritdoc ICertificateLedger
    function certificateByNumber(string calldata number) external view returns (Certificate memory) {
        return certificate(_hashByNumber[keccak256(bytes(number))]);
    }

    /// @inheritdoc ICertificateLedger
    function documentHashOf(string calldata number) external view returns (bytes32) {
        return _hashByNumber[keccak256(bytes(number))];
    }

    /// @inheritdoc ICertificateLedger
    function batch(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc ICertificateLedger
    function leafOf(CertificateInput calldata cert) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        cert.documentHash,
                        cert.number,
                        cert.origin,
                        cert.destination,
                        cert.carats,
                        cert.valueCents,
                        cert.parcels,
                        cert.expiresAt
                    )
                )
            )
        );
    }

    /// @inheritdoc ICertificateLedger
    function verifyBatchCertificate(CertificateInput calldata cert, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        Batch storage anchored = _batches[root];
        return anchored.anchoredBlock != 0 && anchored.origin == cert.origin
            && MerkleProof.verifyCalldata(proof, root, leafOf(cert));
    }

    // ------------------------------------------------------------------ internals

    function _issueDirect(CertificateInput calldata cert, address exporter) private {
        _checkDistinct(cert);
        uint16 validityDays = _registry.requireIssuer(cert.origin, cert.destination, msg.sender);
        _checkExpiry(cert.expiresAt, block.timestamp, validityDays);
        _store(cert, CertificateStatus.Issued, exporter, block.number, block.timestamp);
        _emitIssued(cert, exporter, msg.sender, bytes32(0));
    }

    /// @dev Checks the number, quantities and both uniqueness rules, then writes the
    /// record in one struct assignment (each slot stored once) and the number index.
    /// `issuedAt` is the time the certificate counts as issued (0 while only requested).
    function _store(
        CertificateInput calldata cert,
        CertificateStatus status,
        address exporter,
        uint256 issuedBlock,
        uint256 issuedAt
    ) private {
        bytes32 documentHash = cert.documentHash;
        if (documentHash == bytes32(0)) revert CertificateZeroHash();
        bytes calldata number = bytes(cert.number);
        if (
            number.length < _MIN_NUMBER_BYTES || number.length > _MAX_NUMBER_BYTES
                || bytes2(number[0:2]) != cert.origin || number[number.length - 1] == 0
        ) revert CertificateInvalidNumber(cert.number, cert.origin);
        if (cert.carats == 0 || cert.carats > type(uint40).max) revert CertificateInvalidQuantity("carats", cert.carats);
        if (cert.valueCents > type(uint40).max) revert CertificateInvalidQuantity("valueCents", cert.valueCents);
        if (cert.parcels == 0 || cert.parcels > type(uint16).max) revert CertificateInvalidQuantity("parcels", cert.parcels);

        if (_records[documentHash].status != CertificateStatus.None) revert CertificateHashAlreadyUsed(documentHash);
        bytes32 numberId = keccak256(number);
        bytes32 holder = _hashByNumber[numberId];
        if (holder != bytes32(0)) revert CertificateNumberAlreadyUsed(cert.number, holder);

        _hashByNumber[numberId] = documentHash;
        _records[documentHash] = Record({
            numberSuffix: bytes32(number[2:]),
            exporter: exporter,
            origin: cert.origin,
            destination: cert.destination,
            status: status,
            carats: uint40(cert.carats),
            parcels: uint16(cert.parcels),
            valueCents: uint40(cert.valueCents),
            expiresAt: uint40(cert.expiresAt),
            requestedBlock: status == CertificateStatus.Requested ? uint32(block.number) : 0,
            issuedBlock: uint32(issuedBlock),
            respondedBlock: 0,
            closedBlock: 0,
            issuedDay: uint16(issuedAt / 1 days),
            importedDay: 0
        });
    }

    function _emitIssued(CertificateInput calldata cert, address exporter, address issuer, bytes32 root) private {
        emit CertificateIssued(
            cert.documentHash,
            cert.origin,
            cert.destination,
            cert.number,
            exporter,
            issuer,
            cert.carats,
            cert.valueCents,
            cert.parcels,
            cert.expiresAt,
            root
        );
    }

    function _provenBatch(CertificateInput calldata cert, bytes32 root, bytes32[] calldata proof)
        private
        view
        returns (Batch memory anchored)
    {
        anchored = _batches[root];
        // Block 0 marks "never anchored"; not a balance.
        // slither-disable-next-line incorrect-equality
        if (anchored.anchoredBlock == 0) revert BatchUnknown(root);
        if (anchored.origin != cert.origin) revert BatchOriginMismatch(root, anchored.origin, cert.origin);
        bytes32 leaf = leafOf(cert);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert BatchInvalidProof(root, leaf);
    }

    function _existing(bytes32 documentHash) private view returns (Record storage record) {
        record = _records[documentHash];
        if (record.status == CertificateStatus.None) revert CertificateUnknown(documentHash);
    }

    function _expectStatus(bytes32 documentHash, Record storage record, CertificateStatus expected) private view {
        if (record.status != expected) revert CertificateInvalidTransition(documentHash, record.status);
    }

    function _checkDistinct(CertificateInput calldata cert) private pure {
        if (cert.origin == cert.destination) revert CertificateSameOriginAndDestination(cert.origin);
    }

    /// @dev The validity period runs from `from`; one extra day lets an expiry date be
    /// stored as the end of that day.
    function _checkExpiry(uint256 expiresAt, uint256 from, uint16 validityDays) private pure {
        if (expiresAt <= from) revert CertificateExpiryInPast(expiresAt, from);
        uint256 latest = from + (uint256(validityDays) + 1) * 1 days;
        if (expiresAt > latest) revert CertificateValidityTooLong(expiresAt, latest);
    }

    /// @dev The day the shipment was imported, as the importing authority enters it: not
    /// before the day of issue, not after the day of expiry (a shipment that arrived too
    /// late is a discrepancy, not a receipt) and not after today.
    function _checkImportDate(bytes32 documentHash, Record storage record, uint32 importedOn) private view {
        uint256 today = block.timestamp / 1 days;
        uint256 expiryDay = uint256(record.expiresAt) / 1 days;
        if (importedOn > today) revert CertificateImportDateInFuture(documentHash, importedOn, today);
        if (importedOn < record.issuedDay) {
            revert CertificateImportDateBeforeIssue(documentHash, importedOn, record.issuedDay);
        }
        if (importedOn > expiryDay) revert CertificateImportDateAfterExpiry(documentHash, importedOn, expiryDay);
    }

    function _checkReason(string calldata reason, bool mayBeEmpty) private pure {
        uint256 length = bytes(reason).length;
        if ((length == 0 && !mayBeEmpty) || length > _MAX_REASON_BYTES) revert CertificateInvalidReason();
    }

    function _derivedStatus(Record storage record) private view returns (CertificateStatus) {
        CertificateStatus status = record.status;
        bool open = status == CertificateStatus.Requested || status == CertificateStatus.Issued
            || status == CertificateStatus.Disputed;
        if (open && block.timestamp > record.expiresAt) return CertificateStatus.Expired;
        return status;
    }

    function _number(Record storage record) private view returns (string memory) {
        bytes32 suffix = record.numberSuffix;
        uint256 length = 32;
        while (length > 0 && suffix[length - 1] == 0) {
            --length;
        }
        bytes memory number = new bytes(length + 2);
        number[0] = record.origin[0];
        number[1] = record.origin[1];
        for (uint256 i = 0; i < length; ++i) {
            number[i + 2] = suffix[i];
        }
        return string(number);
    }
}
