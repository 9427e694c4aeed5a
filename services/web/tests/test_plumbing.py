import functools

import pytest

from microblog_common.testing import BACKENDS, check_service_plumbing, database_url
from web.app import create_app
from web.settings import Settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_plumbing(request, tmp_path, backend):
    settings = functools.partial(Settings, gateway_url="http://127.0.0.1:9")
    check_service_plumbing(create_app, settings, database_url(request, tmp_path, backend, "web"))


def test_settings_refuse_a_gateway_url_that_is_not_an_origin():
    with pytest.raises(ValueError, match="origin"):
        Settings(database_url="sqlite://", gateway_url="http://gateway:8000/api", environment="development")
    assert Settings(database_url="sqlite://", gateway_url="unix:/run/g.sock", environment="development")
