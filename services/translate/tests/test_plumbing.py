import pytest

from microblog_common.testing import BACKENDS, check_service_plumbing, database_url
from translate.app import create_app
from translate.settings import Settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_plumbing(request, tmp_path, backend):
    check_service_plumbing(create_app, Settings, database_url(request, tmp_path, backend, "translate"))
