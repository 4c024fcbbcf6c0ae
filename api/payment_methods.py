"""A customer's payment methods (list, make one the default, remove one) and the link where the customer
adds one (Lago's `checkout_url`)."""

from __future__ import annotations

from api.blueprint import api_blueprint as bp
from api.common import many, one, organization_id, page_args
from billing import serializers
from billing.payments import checkout, customers, queries


def _method(view: queries.MethodView):
    return serializers.payment_method(view.method, view.provider_name)


@bp.get("/customers/<path:external_id>/payment_methods")
def list_customer_payment_methods(external_id: str):
    page = queries.list_customer_methods(organization_id=organization_id(), external_customer_id=external_id,
                                         **page_args())
    return many("payment_methods", page, _method)


@bp.put("/customers/<path:external_id>/payment_methods/<method_id>/set_as_default")
def set_default_payment_method(external_id: str, method_id: str):
    customer_id = queries.customer_id_of(organization_id=organization_id(), external_customer_id=external_id)
    method = customers.set_default_method(organization_id=organization_id(), customer_id=customer_id,
                                          method_id=method_id)
    return one("payment_method", _method(queries.method_view(organization_id=organization_id(), method=method)))


@bp.delete("/customers/<path:external_id>/payment_methods/<method_id>")
def delete_payment_method(external_id: str, method_id: str):
    customer_id = queries.customer_id_of(organization_id=organization_id(), external_customer_id=external_id)
    method = customers.remove_method(organization_id=organization_id(), customer_id=customer_id, method_id=method_id)
    return one("payment_method", _method(queries.method_view(organization_id=organization_id(), method=method)))


@bp.post("/customers/<path:external_id>/checkout_url")
def customer_checkout_url(external_id: str):
    link = checkout.customer_checkout_url(organization_id=organization_id(), external_customer_id=external_id)
    return one("customer", serializers.customer_checkout_url(link.customer, link.url))
