from kpledger.types import CertificateStatus


def test_issue_and_confirm(world):
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    world.ae_auth.confirm_receipt(terms.document_hash)
    record = world.gov.certificate(terms.number)
    assert record is not None and record.status is CertificateStatus.RECEIVED


def test_snapshot_isolation(world):
    assert world.gov.certificate("BW 2026/000001") is None


def test_after_revert_sends_again(world):
    terms = world.terms()
    world.bw_auth.issue(terms, world.bw_exporter.address)
    assert world.gov.certificate(terms.document_hash) is not None
