"""Settings of the users service, read from environment variables."""

from microblog_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "users"
