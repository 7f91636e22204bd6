"""The SDK flow in Python, on the client openapi-python-client generates (see ../run.sh): bootstrap key → ISP tenant →
ISP admin and key → reseller plugin on → franchisee → wallet top-up → list, then one bad input read back as the
reseller API's typed error. Exits non-zero on anything unexpected.

    TESSERA_URL=http://127.0.0.1:8080 TESSERA_ADMIN_KEY=tsk_… python3 flow.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "generated"))

from tessera_client import AuthenticatedClient, Client  # noqa: E402
from tessera_client.api.core import (  # noqa: E402
    core_api_keys_create,
    core_tenant_plugins_set,
    core_tenants_create,
    core_users_create,
)
from tessera_client.api.reseller import (  # noqa: E402
    reseller_resellers_create,
    reseller_resellers_list,
    reseller_wallet_update,
)
from tessera_client.models import (  # noqa: E402
    CoreApiKeyCreate,
    CoreApiKeyCreated,
    CoreNewTenantKind,
    CoreTenant,
    CoreTenantCreate,
    CoreTenantPluginSet,
    CoreUser,
    CoreUserCreate,
    ResellerCreateRequest,
    ResellerError,
    ResellerInvoiceBy,
    ResellerListRequest,
    ResellerPaymentBy,
    ResellerType,
    ResellerWalletAction,
    ResellerWalletUpdateRequest,
)


def expect(answer, kind, status=200):
    """The parsed answer, which must be of the documented type for that status."""
    if answer.status_code != status or not isinstance(answer.parsed, kind):
        sys.exit(f"expected {status} {kind.__name__}, got {answer.status_code}: {answer.content[:300]!r}")
    return answer.parsed


base = os.environ.get("TESSERA_URL", "http://127.0.0.1:8080")
admin = AuthenticatedClient(base_url=base, token=os.environ["TESSERA_ADMIN_KEY"])
slug = f"sdk-python-{os.getpid()}"

isp = expect(
    core_tenants_create.sync_detailed(
        client=admin,
        body=CoreTenantCreate(kind=CoreNewTenantKind.ISP, name="Python SDK ISP", parent_id=1, slug=slug),
    ),
    CoreTenant,
    201,
)
user = expect(
    core_users_create.sync_detailed(
        isp.id,
        client=admin,
        body=CoreUserCreate(
            email=f"ops@{slug}.example", name="SDK Ops", password="a long passphrase", roles=["tenant_admin"]
        ),
    ),
    CoreUser,
    201,
)
key = expect(
    core_api_keys_create.sync_detailed(user.id, client=admin, body=CoreApiKeyCreate(name="crm")), CoreApiKeyCreated, 201
).key
plugin = core_tenant_plugins_set.sync_detailed(isp.id, "reseller", client=admin, body=CoreTenantPluginSet(enabled=True))
assert plugin.status_code == 200, plugin.content

crm = Client(base_url=base)
created = reseller_resellers_create.sync(
    client=crm,
    body=ResellerCreateRequest(
        userid=user.id,
        api_key=key,
        name="Reseller4",
        code="R2",
        mobile="12344444",
        email="contact@reseller4.com",
        invoice_by=ResellerInvoiceBy.ISP,
        payment_by=ResellerPaymentBy.ISP,
        type_=ResellerType.FRANCHISEE,
        commission_percent=50,
        credit_limit="0",
    ),
)
assert created.error is None and isinstance(created.result, int), created
reseller = created.result
done = reseller_wallet_update.sync(
    client=crm,
    body=ResellerWalletUpdateRequest(
        userid=user.id, api_key=key, resellerid=reseller, action=ResellerWalletAction.TOPUP, amt="10"
    ),
)
assert done.result == "done", done

listed = reseller_resellers_list.sync(client=crm, body=ResellerListRequest(userid=user.id, api_key=key))
rows = [r for r in listed.result if r.id == reseller]
assert len(rows) == 1 and rows[0].name == "Reseller4" and rows[0].wallet == "10.00", listed

bad = reseller_wallet_update.sync_detailed(
    client=crm,
    body=ResellerWalletUpdateRequest(
        userid=user.id, api_key=key, resellerid=reseller, action=ResellerWalletAction.TOPUP, amt="ten"
    ),
)
error = expect(bad, ResellerError, 400)
assert error.error.startswith("amt:"), error
print(f"python sdk: ISP {isp.id} → franchisee {reseller} with wallet {rows[0].wallet}; bad input: {error.error}")
