import pytest

from microblog_common.testing import BACKENDS, check_service_plumbing, database_url
from posts.app import create_app
from posts.settings import Settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_plumbing(request, tmp_path, backend):
    check_service_plumbing(
        create_app,
        Settings,
        database_url(request, tmp_path, backend, "posts"),
        users_url=f"unix:{tmp_path / 'users.sock'}",  # never called here
    )
