"""Lago's item metadata on plans, wallets and credit notes through lago-python-client: replace, merge, remove all,
remove one key; `metadata` in the resources' create, update and show; Lago's limits; one organization never
reaching another's items. And the wallets under a customer, found by their code."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, CreditNote, Customer, OneOffInvoice, Plan, Wallet
from lago_python_client.models.credit_note import CreditNoteUpdate, Item, Items
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList

from billing.organizations.services import create_organization


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


@pytest.fixture
def stranger(live_server) -> Client:
    created = create_organization(name="Other Cloud", default_currency="EUR")
    return Client(api_key=created.api_key, api_url=live_server)


def _plan(lago: Client, code: str = "pro", **extra) -> Plan:
    return lago.plans.create(Plan(name="Pro", code=code, interval="monthly", amount_cents=1000,
                                  amount_currency="EUR", **extra))


def test_plan_metadata_replace_merge_delete(lago, stranger):
    plan = _plan(lago, metadata={"crm_id": "p-1", "tier": "gold"})
    assert plan.metadata == {"crm_id": "p-1", "tier": "gold"}
    assert lago.plans.find("pro").metadata == {"crm_id": "p-1", "tier": "gold"}

    assert lago.plans.replace_metadata("pro", {"source": "sync", "note": None}) == {"source": "sync", "note": None}
    assert lago.plans.merge_metadata("pro", {"tier": "silver", "source": "api"}) == {
        "source": "api", "note": None, "tier": "silver"}
    assert lago.plans.delete_metadata_key("pro", "note") == {"source": "api", "tier": "silver"}
    assert lago.plans.delete_metadata_key("pro", "absent") == {"source": "api", "tier": "silver"}
    assert lago.plans.find("pro").metadata == {"source": "api", "tier": "silver"}
    # An update that sends metadata replaces it; one that does not keeps it.
    assert lago.plans.update(Plan(name="Pro 2"), "pro").metadata == {"source": "api", "tier": "silver"}
    assert lago.plans.update(Plan(metadata={"only": "this"}), "pro").metadata == {"only": "this"}
    assert lago.plans.delete_all_metadata("pro") is None
    assert lago.plans.find("pro").metadata is None
    # No metadata left: removing a key is a 404, merging nothing keeps none.
    assert _error(lambda: lago.plans.delete_metadata_key("pro", "only")) == (
        404, {"status": 404, "error": "Not Found", "code": "metadata_not_found"})
    assert lago.plans.merge_metadata("pro", {}) is None

    # Another organization's plan does not exist for this key.
    assert _error(lambda: stranger.plans.replace_metadata("pro", {"x": "y"}))[0] == 404
    assert lago.plans.find("pro").metadata is None


def test_metadata_limits_refused_with_nothing_written(lago):
    _plan(lago, metadata={"kept": "yes"})
    too_long_key = {"k" * 101: "v"}
    for sent, reason in ((too_long_key, "key_too_long"), ({"k": "v" * 256}, "value_too_long"),
                         ({f"k{i}": "v" for i in range(51)}, "too_many_keys"), ({"k": 12}, "invalid_key_value_pair")):
        status, body = _error(lambda sent=sent: lago.plans.replace_metadata("pro", sent))
        assert (status, body["code"], body["error_details"]) == (422, "validation_errors", {"metadata": [reason]})
    # A merge past 50 keys is refused as a whole.
    lago.plans.replace_metadata("pro", {f"a{i}": "v" for i in range(30)})
    status, body = _error(lambda: lago.plans.merge_metadata("pro", {f"b{i}": "v" for i in range(30)}))
    assert (status, body["error_details"]) == (422, {"metadata": ["too_many_keys"]})
    assert len(lago.plans.find("pro").metadata) == 30
    # At the limits exactly: accepted.
    exact = {"k" * 100: "v" * 255, "empty": None}
    assert lago.plans.replace_metadata("pro", exact) == exact
    status, body = _error(lambda: lago.plans.create(Plan(name="X", code="x", interval="monthly", amount_cents=0,
                                                         amount_currency="EUR", metadata={"k": "v" * 256})))
    assert body["error_details"] == {"metadata": ["value_too_long"]}
    assert _error(lambda: lago.plans.find("x"))[0] == 404


def test_wallet_metadata_by_id_and_by_customer_wallet_code(lago, stranger):
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    wallet = lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", name="Prepaid credits",
                                        metadata={"po": "42"}))
    assert wallet.code == "prepaid_credits"  # Lago's default: the name, in lower case, joined by `_`
    assert wallet.metadata == {"po": "42"}
    assert lago.wallets.merge_metadata(wallet.lago_id, {"team": "ops"}) == {"po": "42", "team": "ops"}
    by_code = lago.customers.wallets.metadata
    assert by_code.merge("acme", "prepaid_credits", {"po": "43"}) == {"po": "43", "team": "ops"}
    assert by_code.delete_key("acme", "prepaid_credits", "team") == {"po": "43"}
    assert by_code.replace("acme", "prepaid_credits", {"new": "set"}) == {"new": "set"}
    assert lago.wallets.find(wallet.lago_id).metadata == {"new": "set"}
    assert lago.wallets.update(Wallet(metadata={"u": "1"}), wallet.lago_id).metadata == {"u": "1"}
    assert by_code.delete_all("acme", "prepaid_credits") is None
    assert lago.wallets.delete_all_metadata(wallet.lago_id) is None

    assert _error(lambda: by_code.replace("acme", "unknown", {"a": "b"}))[0] == 404
    assert _error(lambda: stranger.wallets.replace_metadata(wallet.lago_id, {"a": "b"}))[0] == 404
    assert _error(lambda: stranger.customers.wallets.metadata.replace("acme", "prepaid_credits", {"a": "b"}))[0] == 404


def test_customer_wallets_by_code(lago, stranger, live_server, org):
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    wallets = lago.customers.wallets
    first = wallets.create("acme", Wallet(rate_amount="1", paid_credits="0", granted_credits="10", code="main"))
    assert (first.code, first.external_customer_id, first.credits_balance) == ("main", "acme", "10")
    # Without code nor name, Lago's `default`; a second one is numbered.
    assert wallets.create("acme", Wallet(rate_amount="1")).code == "default"
    assert wallets.create("acme", Wallet(rate_amount="1")).code == "default_2"
    status, body = _error(lambda: wallets.create("acme", Wallet(rate_amount="1", code="main")))
    assert (status, body["error_details"]) == (422, {"code": ["value_already_exist"]})

    assert wallets.find("acme", "main").lago_id == first.lago_id
    listed = wallets.find_all("acme", options={"per_page": 2})
    assert [w.code for w in listed["wallets"]] == ["default_2", "default"]
    assert listed["meta"]["total_count"] == 3
    renamed = wallets.update("acme", "main", Wallet(name="Main credits", priority=3))
    assert (renamed.name, renamed.priority, renamed.lago_id) == ("Main credits", 3, first.lago_id)
    status, body = _error(lambda: wallets.update("acme", "default", Wallet(code="main")))
    assert body["error_details"] == {"code": ["value_already_exist"]}

    ended = wallets.destroy("acme", "main")
    assert (ended.status, ended.lago_id) == ("terminated", first.lago_id)
    # A terminated wallet's code is free again; the code then names the active wallet.
    again = wallets.create("acme", Wallet(rate_amount="2", code="main"))
    assert wallets.find("acme", "main").lago_id == again.lago_id

    assert _error(lambda: wallets.find("acme", "nope"))[0] == 404
    assert _error(lambda: wallets.find_all("nobody"))[0] == 404
    assert _error(lambda: wallets.create("nobody", Wallet(rate_amount="1")))[1]["code"] == "customer_not_found"
    # Another organization sees neither the customer nor its wallets.
    assert _error(lambda: stranger.customers.wallets.find("acme", "main"))[0] == 404
    assert _error(lambda: stranger.customers.wallets.destroy("acme", "main"))[0] == 404
    assert wallets.find("acme", "main").status == "active"


def test_credit_note_metadata(lago, stranger):
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=10_000)])
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))
    items = Items(__root__=[Item(fee_id=invoice.fees.__root__[0].lago_id, amount_cents=1000)])
    note = lago.credit_notes.create(CreditNote(invoice_id=invoice.lago_id, reason="other", items=items,
                                               credit_amount_cents=1000, metadata={"ticket": "T-1"}))
    assert note.metadata == {"ticket": "T-1"}
    assert lago.credit_notes.merge_metadata(note.lago_id, {"agent": "ann"}) == {"ticket": "T-1", "agent": "ann"}
    assert lago.credit_notes.delete_metadata_key(note.lago_id, "ticket") == {"agent": "ann"}
    assert lago.credit_notes.update(CreditNoteUpdate(metadata={"x": None}), note.lago_id).metadata == {"x": None}
    assert lago.credit_notes.find(note.lago_id).metadata == {"x": None}
    assert lago.credit_notes.replace_metadata(note.lago_id, {"y": "z"}) == {"y": "z"}
    assert lago.credit_notes.delete_all_metadata(note.lago_id) is None
    assert _error(lambda: stranger.credit_notes.merge_metadata(note.lago_id, {"a": "b"}))[0] == 404


def test_metadata_body_must_be_an_object(lago, live_server, org):
    _plan(lago)
    response = httpx.post(f"{live_server}/api/v1/plans/pro/metadata", content=b"[1]",
                          headers={"Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    response = httpx.post(f"{live_server}/api/v1/plans/pro/metadata", json={"metadata": "text"},
                          headers={"Authorization": f"Bearer {org.api_key}"})
    assert (response.status_code, response.json()["error_details"]) == (422, {"metadata": ["invalid_type"]})


def test_invoice_metadata_pairs(lago, stranger, live_server, org):
    from lago_python_client.models import Invoice
    from lago_python_client.models.invoice import InvoiceMetadata, InvoiceMetadataList

    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=1000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=1000)])
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))

    def pairs(*items: tuple[str | None, str, str]) -> Invoice:
        return Invoice(metadata=InvoiceMetadataList(__root__=[InvoiceMetadata(id=i, key=k, value=v)
                                                              for i, k, v in items]))

    updated = lago.invoices.update(pairs((None, "po", "PO-1"), (None, "ref", "R")), invoice.lago_id)
    assert [(m.key, m.value) for m in updated.metadata.__root__] == [("po", "PO-1"), ("ref", "R")]
    assert updated.payment_status == "pending"  # not sent: kept
    def shown() -> list[dict]:  # Lago answers each pair's `lago_id`, which the client's model does not read
        response = httpx.get(f"{live_server}/api/v1/invoices/{invoice.lago_id}",
                             headers={"Authorization": f"Bearer {org.api_key}"})
        return response.json()["invoice"]["metadata"]

    [po, _ref] = shown()
    assert po["lago_id"] and po["created_at"]
    # The list sent is the whole list: `po` kept (same id, new value), `ref` removed, `new` added.
    lago.invoices.update(pairs((po["lago_id"], "po", "PO-2"), (None, "new", "N")), invoice.lago_id)
    assert [(m["lago_id"] == po["lago_id"], m["key"], m["value"]) for m in shown()] == [
        (True, "po", "PO-2"), (False, "new", "N")]
    assert [m.key for m in lago.invoices.find(invoice.lago_id).metadata.__root__] == ["po", "new"]

    for sent, reason in ((pairs(*[(None, f"k{i}", "v") for i in range(6)]), "invalid_count"),
                         (pairs((None, "k" * 21, "v")), "value_is_too_long"),
                         (pairs((None, "k", "v" * 141)), "value_is_too_long"),
                         (pairs((None, "k", "a"), (None, "k", "b")), "value_already_exist"),
                         (pairs((None, "k", "")), "invalid_key_value_pair")):
        status, body = _error(lambda sent=sent: lago.invoices.update(sent, invoice.lago_id))
        assert (status, body["error_details"]) == (422, {"metadata": [reason]})
    assert [m.value for m in lago.invoices.find(invoice.lago_id).metadata.__root__] == ["PO-2", "N"]
    assert _error(lambda: stranger.invoices.update(pairs((None, "a", "b")), invoice.lago_id))[0] == 404
    # The payment status and the metadata together.
    both = lago.invoices.update(Invoice(payment_status="failed", metadata=InvoiceMetadataList(__root__=[])),
                                invoice.lago_id)
    assert (both.payment_status, both.metadata.__root__) == ("failed", [])
