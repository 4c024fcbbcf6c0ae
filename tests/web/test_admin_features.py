"""Features in the admin (list, create with privileges, edit, delete), what a plan includes (the plan editor's
Features section, over htmx, with refusals next to their value), a subscription's own values (the override editor's
Features box), and the portal's plan section saying what the plan includes in plain words."""

from __future__ import annotations

from billing.customers.services import upsert_customer
from billing.entitlements import features, services
from billing.lifecycle import create_subscription
from billing.links import portal_url
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}


def _catalog(org_id: str) -> None:
    create_catalog(org_id)
    features.create_feature(organization_id=org_id, data={"code": "seats", "name": "Seats", "privileges": [
        {"code": "max", "name": "Maximum", "value_type": "integer"}]})
    features.create_feature(organization_id=org_id, data={"code": "sso", "name": "SSO", "privileges": [
        {"code": "provider", "name": "Provider", "value_type": "select",
         "config": {"select_options": ["google", "okta"]}},
        {"code": "audit", "name": "Audit log", "value_type": "boolean"}]})


def test_create_edit_and_delete_a_feature(signed_in, org):
    page = signed_in.get("/admin/features")
    assert page.status_code == 200 and "No feature yet." in page.get_data(as_text=True)
    token = csrf_token_in(signed_in.get("/admin/features/new").get_data(as_text=True))
    form = {"csrf_token": token, "name": "SSO", "code": "sso", "description": "",
            "p-0-code": "provider", "p-0-name": "Provider", "p-0-value_type": "select", "p-0-options": "",
            "p-1-code": "", "p-1-name": "", "p-1-value_type": "string", "p-1-options": ""}
    refused = signed_in.post("/admin/features/new", headers=HTMX, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "<html" not in html and "needs its options" in html
    assert features.list_features(organization_id=org.id).total_count == 0

    created = signed_in.post("/admin/features/new", headers=HTMX, data=form | {"p-0-options": "google, okta"})
    assert created.headers["HX-Redirect"] == "/admin/features"
    feature = features.get_feature(organization_id=org.id, code="sso")
    assert [(p.code, p.value_type, p.config) for p in feature.privileges] == [
        ("provider", "select", {"select_options": ["google", "okta"]})]
    listed = signed_in.get("/admin/features").get_data(as_text=True)
    assert 'data-feature="sso"' in listed and "One of a list" in listed

    edit = signed_in.get("/admin/features/sso/edit").get_data(as_text=True)
    assert 'name="p-0-existing" value="1"' in edit and 'value="google, okta"' in edit
    options = signed_in.post("/admin/features/sso/edit", headers=HTMX, data={
        "csrf_token": token, "name": "SSO", "description": "",
        "p-0-code": "provider", "p-0-existing": "1", "p-0-name": "Provider", "p-0-value_type": "select",
        "p-0-options": "google, okta, azure"})
    assert options.headers["HX-Redirect"] == "/admin/features"
    assert features.get_feature(organization_id=org.id, code="sso").privileges[0].config == {
        "select_options": ["google", "okta", "azure"]}
    saved = signed_in.post("/admin/features/sso/edit", headers=HTMX, data={
        "csrf_token": token, "name": "Single sign-on", "description": "",
        "p-0-code": "provider", "p-0-existing": "1", "p-0-name": "Provider", "p-0-value_type": "select",
        "p-0-options": "google, okta, azure", "p-0-delete": "1",
        "p-1-code": "audit", "p-1-name": "Audit log", "p-1-value_type": "boolean", "p-1-options": ""})
    assert saved.headers["HX-Redirect"] == "/admin/features"
    feature = features.get_feature(organization_id=org.id, code="sso")
    assert feature.name == "Single sign-on" and [p.code for p in feature.privileges] == ["audit"]

    assert "Every plan and subscription" in signed_in.get("/admin/features/sso/delete").get_data(as_text=True)
    deleted = signed_in.post("/admin/features/sso/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert features.list_features(organization_id=org.id).total_count == 0


def test_the_plan_editor_sets_what_the_plan_includes(signed_in, org):
    _catalog(org.id)
    page = signed_in.get("/admin/plans/startup/edit").get_data(as_text=True)
    assert "This plan includes no feature yet." in page and '<option value="seats">Seats</option>' in page
    token = csrf_token_in(page)

    added = signed_in.post("/admin/plans/startup/features", headers=HTMX,
                           data={"csrf_token": token, "add_feature": "seats"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "<html" not in html and 'data-feature="seats"' in html
    assert [f.code for f in services.list_plan_entitlements(organization_id=org.id, plan_code="startup")] == ["seats"]

    refused = signed_in.post("/admin/plans/startup/features", headers=HTMX, data={
        "csrf_token": token, "f-0-code": "seats", "f-0-p-0-code": "max", "f-0-p-0-value": "ten"})
    html = refused.get_data(as_text=True)
    assert "Not a valid value for this type." in html and 'value="ten"' in html
    saved = signed_in.post("/admin/plans/startup/features", headers=HTMX, data={
        "csrf_token": token, "f-0-code": "seats", "f-0-p-0-code": "max", "f-0-p-0-value": "10",
        "add_feature": "sso"})
    assert "was saved" in saved.get_data(as_text=True)
    granted = services.list_plan_entitlements(organization_id=org.id, plan_code="startup")
    assert [(f.code, [(p.code, p.value) for p in f.privileges]) for f in granted] == [
        ("seats", [("max", 10)]), ("sso", [])]

    removed = signed_in.post("/admin/plans/startup/features", data={
        "csrf_token": token, "f-0-code": "seats", "f-0-p-0-code": "max", "f-0-p-0-value": "10",
        "f-1-code": "sso", "f-1-remove": "1"})
    assert removed.status_code == 303
    assert [f.code for f in services.list_plan_entitlements(organization_id=org.id, plan_code="startup")] == ["seats"]


def test_a_subscription_gets_its_own_values_and_the_portal_says_what_the_plan_includes(signed_in, org, client):
    _catalog(org.id)
    services.replace_plan_entitlements(organization_id=org.id, plan_code="startup", entitlements={
        "seats": {"max": 10}, "sso": {"provider": "google", "audit": True}})
    customer = upsert_customer(organization_id=org.id, data={"external_id": "acme", "name": "Acme"})
    subscription = create_subscription(organization_id=org.id, data={
        "external_customer_id": "acme", "plan_code": "startup", "external_id": "acme-main"})
    base = f"/admin/customers/{customer.id}/subscriptions/{subscription.id}/features"

    opened = signed_in.get(base, headers=HTMX).get_data(as_text=True)
    assert "Plan: 10" in opened and "As the plan" in opened
    token = csrf_token_in(signed_in.get(f"/admin/customers/{customer.id}").get_data(as_text=True))
    saved = signed_in.post(base, headers=HTMX, data={
        "csrf_token": token, "f-0-code": "seats", "f-0-p-0-code": "max", "f-0-p-0-value": "25",
        "f-1-code": "sso", "f-1-p-0-code": "provider", "f-1-p-0-value": "okta", "f-1-p-1-code": "audit",
        "f-1-p-1-value": ""})
    assert "were saved" in saved.get_data(as_text=True)
    granted = services.subscription_entitlements(organization_id=org.id, external_id="acme-main")
    assert [(f.code, f.overrides) for f in granted] == [("seats", {"max": 25}), ("sso", {"provider": "okta"})]

    refused = signed_in.post(base, headers=HTMX, data={
        "csrf_token": token, "f-0-code": "sso", "f-0-p-0-code": "provider", "f-0-p-0-value": "github"})
    assert "Not one of the options." in refused.get_data(as_text=True)

    portal = client.get("/portal/" + portal_url(customer_id=customer.id, organization_id=org.id).rsplit(
        "/portal/", 1)[1]).get_data(as_text=True)
    assert "Included" in portal
    assert '<li data-feature="seats">Up to 25 seats</li>' in portal
    assert '<li data-feature="sso">SSO: Provider: okta, Audit log</li>' in portal
