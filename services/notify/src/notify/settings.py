"""Settings of the notify service, read from environment variables."""

from microblog_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notify"
