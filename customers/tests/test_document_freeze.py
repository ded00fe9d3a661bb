"""Archiving (freezing) a case's documents: no more versions, every stored version kept."""

import io
import os
import tempfile

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audit.models import AuditEntry
from customers import services
from customers.models import Document, DocumentKind
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
REASON = "入网案卷 RW-2026-0001 已归档"
REFUSAL = f"该文档已归档（{REASON}），不能再修改。请作为新文档上传。"


def _stored_files() -> int:
    return sum(len(names) for _dir, _subdirs, names in os.walk(settings.MEDIA_ROOT))


class DocumentFreezeTests(PersonaTestCase):
    EDITORS = ("engineer", "technical", "agent", "sysadmin")  # see every customer, may change
    HIDDEN = (
        "market",
        "market_manager",
        "account_manager",
        "supervisor",
        "auditor",
        "outsider",
        "responder",
    )

    @classmethod
    def setUpClass(cls) -> None:
        # Before super(): setUpTestData already stores files.
        cls._media = override_settings(MEDIA_ROOT=tempfile.mkdtemp(prefix="ruwang-media-"))
        cls._media.enable()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        cls._media.disable()
        super().tearDownClass()

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = make_customer("归档客户", make_regions()["360102"])
        cls.contract = cls._upload(title="监控服务合同", content=PDF).document
        services.document_upload(
            actor=None,
            customer=cls.customer,
            kind=DocumentKind.CONTRACT,
            title="监控服务合同",
            file_name="合同v2.pdf",
            fileobj=io.BytesIO(PDF + b"% v2\n"),
            size=len(PDF) + 5,
            document=cls.contract,
        )
        cls.record = cls._upload(
            kind=DocumentKind.FORM_RECORD, title="RW-2026-0001 记录", content=PDF + b"% form\n"
        ).document

    @classmethod
    def _upload(cls, *, title: str, content: bytes, kind: str = DocumentKind.CONTRACT):
        return services.document_upload(
            actor=None,
            customer=cls.customer,
            kind=kind,
            title=title,
            file_name=f"{title}.pdf",
            fileobj=io.BytesIO(content),
            size=len(content),
        )

    def _freeze(self, *documents: Document, actor=None) -> int:
        return services.documents_freeze(actor=actor, documents=documents, reason=REASON)

    def _version_url(self, document: Document) -> str:
        return f"/customers/{self.customer.pk}/documents/{document.pk}/version/"

    # --- the service ---------------------------------------------------------------------

    def test_freezing_archives_each_document_once_with_one_audit_row_each(self):
        assert self._freeze(self.contract, self.record) == 2
        for document in (self.contract, self.record):
            document.refresh_from_db()
            assert document.is_frozen and document.frozen_reason == REASON
        entries = AuditEntry.objects.filter(action="document.freeze")
        assert sorted(entries.values_list("object_id", flat=True)) == sorted(
            [str(self.contract.pk), str(self.record.pk)]
        )
        assert entries.first().changes["frozen_reason"] == [None, REASON]

        assert self._freeze(self.contract, self.record) == 0
        assert AuditEntry.objects.filter(action="document.freeze").count() == 2

    def test_a_user_who_may_change_customers_freezes_in_their_own_name(self):
        technical = self.users["technical"]
        assert self._freeze(self.contract, actor=technical) == 1
        entry = AuditEntry.objects.get(action="document.freeze")
        assert entry.actor_id == technical.pk

    def test_a_user_without_the_change_permission_is_refused(self):
        with pytest.raises(PermissionDenied):
            self._freeze(self.contract, actor=self.users["director"])
        self.contract.refresh_from_db()
        assert not self.contract.is_frozen
        assert not AuditEntry.objects.filter(action="document.freeze").exists()

    def test_a_user_who_cannot_see_the_customer_is_refused(self):
        with pytest.raises(PermissionDenied):
            self._freeze(self.contract, self.record, actor=self.users["market"])
        assert not Document.objects.filter(frozen_at__isnull=False).exists()

    def test_a_blank_reason_is_refused(self):
        with pytest.raises(ValidationError) as refused:
            services.documents_freeze(actor=None, documents=[self.contract], reason="  ")
        assert refused.value.message_dict["reason"] == ["请填写文档归档的原因。"]
        self.contract.refresh_from_db()
        assert not self.contract.is_frozen

    def test_a_new_version_of_an_archived_document_is_refused_and_nothing_written(self):
        self._freeze(self.contract)
        uploads = AuditEntry.objects.filter(action="document.upload").count()
        stored = _stored_files()
        with pytest.raises(ValidationError) as refused:
            services.document_upload(
                actor=self.users["technical"],
                customer=self.customer,
                kind=DocumentKind.CONTRACT,
                title="监控服务合同",
                file_name="合同v3.pdf",
                fileobj=io.BytesIO(PDF + b"% v3\n"),
                size=len(PDF) + 5,
                document=self.contract,
            )
        assert refused.value.messages == [REFUSAL]
        assert self.contract.versions.count() == 2
        assert AuditEntry.objects.filter(action="document.upload").count() == uploads
        assert _stored_files() == stored

    def test_a_freeze_that_lands_after_the_document_was_loaded_still_stops_the_upload(self):
        stale = Document.objects.get(pk=self.contract.pk)
        self._freeze(Document.objects.get(pk=self.contract.pk))
        with pytest.raises(ValidationError):
            services.document_upload(
                actor=None,
                customer=self.customer,
                kind=DocumentKind.CONTRACT,
                title="监控服务合同",
                file_name="合同v3.pdf",
                fileobj=io.BytesIO(PDF + b"% v3\n"),
                size=len(PDF) + 5,
                document=stale,
            )
        assert self.contract.versions.count() == 2

    def test_the_same_file_can_still_be_uploaded_as_a_new_document(self):
        self._freeze(self.contract)
        version = self._upload(title="监控服务合同（补充）", content=PDF + b"% v3\n")
        assert version.document != self.contract and version.number == 1

    # --- the pages -------------------------------------------------------------------------

    def test_every_version_of_an_archived_document_still_downloads(self):
        self._freeze(self.contract)
        client = self.client_as("director")
        for version in self.contract.versions.all():
            response = client.get(f"/customers/files/{version.pk}/")
            assert response.status_code == 200
            assert b"".join(response.streaming_content).startswith(PDF)

    def test_the_profile_shows_the_archive_badge_and_no_new_version_link(self):
        self._freeze(self.contract)
        page = self.client_as("technical").get(f"/customers/{self.customer.pk}/").content.decode()
        assert f'title="{REASON}"' in page
        assert "已归档" in page
        assert self._version_url(self.contract) not in page
        assert self._version_url(self.record) in page  # not archived: still offered

    def test_the_new_version_page_of_an_archived_document_explains_the_refusal(self):
        self._freeze(self.contract)
        url = self._version_url(self.contract)
        self.assert_access(url, allowed=self.EDITORS, not_found=self.HIDDEN)
        response = self.client_as("technical").get(url)
        page = response.content.decode()
        assert REFUSAL in page
        assert 'type="file"' not in page
        assert f"/customers/{self.customer.pk}/documents/new/?kind=contract" in page

    def test_posting_a_new_version_of_an_archived_document_shows_the_refusal(self):
        self._freeze(self.contract)
        for persona in self.EDITORS:
            response = self.client_as(persona).post(
                self._version_url(self.contract),
                {"file": SimpleUploadedFile("合同v3.pdf", PDF + b"% v3\n")},
            )
            assert response.status_code == 200, persona
            assert REFUSAL in response.content.decode()
        assert self.contract.versions.count() == 2

    def test_documents_of_the_new_kinds_are_uploaded_and_labelled(self):
        response = self.client_as("technical").post(
            f"/customers/{self.customer.pk}/documents/new/",
            {"kind": "notice", "title": "入网批复", "file": SimpleUploadedFile("批复.pdf", PDF)},
        )
        assert response.status_code == 302
        assert Document.objects.get(title="入网批复").kind == DocumentKind.NOTICE
        page = self.client_as("technical").get(f"/customers/{self.customer.pk}/").content.decode()
        assert "通知书" in page and "入网作业表单" in page
