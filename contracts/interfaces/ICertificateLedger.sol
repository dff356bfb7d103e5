// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Kimberley Process certificate ledger
/// @notice Holds the hash of every KP certificate and enforces its life cycle:
/// REQUESTED -> ISSUED -> RECEIVED | DISPUTED -> RECEIVED | VOIDED, ISSUED -> VOIDED,
/// ISSUED -> SUPERSEDED (amendment). EXPIRED is derived from the expiry time.
/// @dev Records are keyed by the document hash (SHA-256 of the RFC 8785 canonical JSON).
/// Every transition emits an event that carries what an auditor needs to rebuild the
/// state from logs alone; the block number and time of a transition are the log's.
interface ICertificateLedger {
    /// @notice Stored status, plus `Expired`, which reads derive and never store.
    enum CertificateStatus {
        None,
        Requested,
        Issued,
        Received,
        Disputed,
        Voided,
        Superseded,
        Expired
    }

    /// @notice What the exporter or authority states about a certificate. It is also the
    /// Merkle leaf of batched certificates, encoded as an @openzeppelin/merkle-tree
    /// StandardMerkleTree leaf of types
    /// `(bytes32,string,bytes2,bytes2,uint256,uint256,uint256,uint256)`.
    /// @param documentHash SHA-256 of the certificate document.
    /// @param number Certificate number; starts with `origin`'s code, 5 to 34 bytes.
    /// @param origin Exporting participant.
    /// @param destination Importing participant.
    /// @param carats Carat weight in hundredths of a carat.
    /// @param valueCents Value in US cents.
    /// @param parcels Number of parcels.
    /// @param expiresAt Unix time after which the certificate has expired.
    struct CertificateInput {
        bytes32 documentHash;
        string number;
        bytes2 origin;
        bytes2 destination;
        uint256 carats;
        uint256 valueCents;
        uint256 parcels;
        uint256 expiresAt;
    }

    /// @notice A certificate as read from the ledger. Blocks are 0 for transitions that
    /// have not happened; `status` is derived (it may be `Expired`). The accounts that
    /// validated, confirmed or voided it are in the transition events. `issuedOn` and
    /// `importedOn` are days since 1970-01-01 (UTC), 0 when not issued / not received:
    /// the day the certificate was issued (for a batch member, the day its batch was
    /// anchored) and the import date the importing authority entered.
    struct Certificate {
        bytes32 documentHash;
        string number;
        bytes2 origin;
        bytes2 destination;
        CertificateStatus status;
        CertificateStatus storedStatus;
        uint256 carats;
        uint256 valueCents;
        uint256 parcels;
        uint256 expiresAt;
        address exporter;
        uint256 requestedBlock;
        uint256 issuedBlock;
        uint256 respondedBlock;
        uint256 closedBlock;
        bytes32 supersedes;
        bytes32 supersededBy;
        bytes32 batchRoot;
        uint256 issuedOn;
        uint256 importedOn;
    }

    /// @notice A Merkle batch root anchored by an authority. `validityDays` is the
    /// origin's validity period when the batch was anchored: its certificates are
    /// checked against that, not against a period changed later.
    struct Batch {
        bytes2 origin;
        address issuer;
        uint40 anchoredBlock;
        uint40 anchoredAt;
        uint16 validityDays;
    }

    // ------------------------------------------------------------------ events

    /// @notice A licensed exporter anchored a certificate awaiting validation.
    event CertificateRequested(
        bytes32 indexed documentHash,
        bytes2 indexed origin,
        bytes2 indexed destination,
        string number,
        address exporter,
        uint256 carats,
        uint256 valueCents,
        uint256 parcels,
        uint256 expiresAt
    );

    /// @notice An authority issued a certificate directly, as an amendment, or a batched
    /// certificate was revealed (`batchRoot` non-zero; its issue block is the batch's).
    event CertificateIssued(
        bytes32 indexed documentHash,
        bytes2 indexed origin,
        bytes2 indexed destination,
        string number,
        address exporter,
        address issuer,
        uint256 carats,
        uint256 valueCents,
        uint256 parcels,
        uint256 expiresAt,
        bytes32 batchRoot
    );

    /// @notice The exporting authority validated a requested certificate: it is issued.
    event CertificateValidated(bytes32 indexed documentHash, address indexed issuer);

    /// @notice The importing authority confirmed receipt of the shipment, imported on day
    /// `importedOn` (days since 1970-01-01, UTC).
    event CertificateReceived(bytes32 indexed documentHash, address indexed by, uint32 importedOn);

    /// @notice The importing authority recorded a discrepancy; the shipment is detained.
    event CertificateDisputed(bytes32 indexed documentHash, address indexed by, string reason);

    /// @notice The importing authority resolved a discrepancy and accepted the shipment,
    /// imported on day `importedOn` (days since 1970-01-01, UTC).
    event DisputeResolved(bytes32 indexed documentHash, address indexed by, uint32 importedOn, string note);

    /// @notice The exporting authority voided a certificate (or rejected a request).
    event CertificateVoided(bytes32 indexed documentHash, address indexed by, string reason);

    /// @notice The exporting authority amended a certificate: `replacement` supersedes it.
    event CertificateSuperseded(
        bytes32 indexed documentHash,
        bytes32 indexed replacement,
        address indexed by,
        string reason
    );

    /// @notice An authority anchored the Merkle root of a batch of issued certificates.
    event BatchAnchored(bytes32 indexed root, bytes2 indexed origin, address indexed issuer, uint256 count);

    // ------------------------------------------------------------------ errors

    /// @notice The document hash is zero.
    error CertificateZeroHash();
    /// @notice The number is not 5-34 bytes starting with the origin's code.
    error CertificateInvalidNumber(string number, bytes2 origin);
    /// @notice Origin and destination are the same participant.
    error CertificateSameOriginAndDestination(bytes2 participant);
    /// @notice Carats (hundredths) must be 1..2^40-1, value (cents) 0..2^40-1, parcels 1..65535.
    error CertificateInvalidQuantity(string field, uint256 value);
    /// @notice The expiry is not in the future.
    error CertificateExpiryInPast(uint256 expiresAt, uint256 now_);
    /// @notice The expiry is later than the origin's validity period allows.
    error CertificateValidityTooLong(uint256 expiresAt, uint256 latestAllowed);
    /// @notice The document hash was anchored before.
    error CertificateHashAlreadyUsed(bytes32 documentHash);
    /// @notice The certificate number was used before.
    error CertificateNumberAlreadyUsed(string number, bytes32 documentHash);
    /// @notice No certificate has this document hash.
    error CertificateUnknown(bytes32 documentHash);
    /// @notice The transition is not allowed from the certificate's current status.
    error CertificateInvalidTransition(bytes32 documentHash, CertificateStatus status);
    /// @notice The certificate expired; it can no longer be validated.
    error CertificateExpired(bytes32 documentHash, uint256 expiresAt);
    /// @notice The import date entered is after today (days since 1970-01-01, UTC).
    error CertificateImportDateInFuture(bytes32 documentHash, uint256 importedOn, uint256 today);
    /// @notice The import date entered is before the day the certificate was issued.
    error CertificateImportDateBeforeIssue(bytes32 documentHash, uint256 importedOn, uint256 issuedOn);
    /// @notice The shipment was imported after the certificate's expiry day: it cannot be
    /// confirmed; the importing authority records a discrepancy instead.
    error CertificateImportDateAfterExpiry(bytes32 documentHash, uint256 importedOn, uint256 expiryDay);
    /// @notice An amendment must keep the certificate's exporting participant.
    error CertificateAmendmentOriginMismatch(bytes2 expected, bytes2 actual);
    /// @notice A reason (void, dispute, amendment) must be 1 to 1,000 bytes.
    error CertificateInvalidReason();
    /// @notice The zero address cannot be an exporter.
    error CertificateZeroExporter();
    /// @notice The batch root is zero or already anchored.
    error BatchInvalidRoot(bytes32 root);
    /// @notice A batch must hold at least one certificate.
    error BatchEmpty();
    /// @notice No batch has this root.
    error BatchUnknown(bytes32 root);
    /// @notice The certificate belongs to another participant than the batch's.
    error BatchOriginMismatch(bytes32 root, bytes2 expected, bytes2 actual);
    /// @notice The Merkle proof does not prove the certificate against the root.
    error BatchInvalidProof(bytes32 root, bytes32 leaf);
    /// @notice The destination was not an active participant when the batch was anchored.
    error BatchDestinationNotActive(bytes32 root, bytes2 destination);

    // ------------------------------------------------------------------ exporters

    /// @notice A licensed exporter of `cert.origin` anchors a certificate (REQUESTED).
    function anchor(CertificateInput calldata cert) external;

    // ------------------------------------------------------------------ exporting authority

    /// @notice Validates a requested certificate (REQUESTED -> ISSUED). Origin authority.
    function validate(bytes32 documentHash) external;

    /// @notice Issues a certificate directly (ISSUED). Origin authority.
    /// @param exporter Account of the exporter it is issued to.
    function issue(CertificateInput calldata cert, address exporter) external;

    /// @notice Voids a certificate (REQUESTED, ISSUED or DISPUTED -> VOIDED). Origin authority.
    function voidCertificate(bytes32 documentHash, string calldata reason) external;

    /// @notice Replaces an issued certificate with a corrected one (ISSUED -> SUPERSEDED,
    /// replacement ISSUED). Origin authority.
    function amend(bytes32 documentHash, CertificateInput calldata replacement, string calldata reason) external;

    /// @notice Anchors the Merkle root of `count` issued certificates of `origin`.
    function anchorBatch(bytes2 origin, bytes32 root, uint256 count) external;

    // ------------------------------------------------------------------ importing authority

    /// @notice Confirms receipt of the shipment (ISSUED -> RECEIVED). Destination authority.
    /// @param importedOn The day the shipment was imported, days since 1970-01-01 (UTC):
    /// not before the day of issue, not after the day of expiry, not after today.
    function confirmReceipt(bytes32 documentHash, uint32 importedOn) external;

    /// @notice Records a discrepancy (ISSUED -> DISPUTED). Destination authority.
    function recordDiscrepancy(bytes32 documentHash, string calldata reason) external;

    /// @notice Accepts a disputed shipment after follow-up (DISPUTED -> RECEIVED).
    /// @param importedOn The day the shipment was imported, checked as for `confirmReceipt`.
    function resolveDispute(bytes32 documentHash, uint32 importedOn, string calldata note) external;

    // ------------------------------------------------------------------ anyone

    /// @notice Materialises a batched certificate from its leaf and proof, so that it can
    /// take part in transitions. Anyone may reveal; the authority already vouched for it.
    function revealBatchCertificate(CertificateInput calldata cert, bytes32 root, bytes32[] calldata proof) external;

    // ------------------------------------------------------------------ reads

    /// @notice The registry that says who may act.
    function registry() external view returns (address);

    /// @notice The certificate with this document hash; `status` is `None` if unknown.
    function certificate(bytes32 documentHash) external view returns (Certificate memory);

    /// @notice The certificate with this number; `status` is `None` if unknown.
    function certificateByNumber(string calldata number) external view returns (Certificate memory);

    /// @notice Document hash of the certificate with this number, or zero.
    function documentHashOf(string calldata number) external view returns (bytes32);

    /// @notice The batch with this root; `anchoredBlock` is 0 if unknown.
    function batch(bytes32 root) external view returns (Batch memory);

    /// @notice The StandardMerkleTree leaf of a certificate.
    function leafOf(CertificateInput calldata cert) external pure returns (bytes32);

    /// @notice Whether `proof` proves `cert` in the anchored batch `root` of its origin.
    function verifyBatchCertificate(CertificateInput calldata cert, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool);
}
