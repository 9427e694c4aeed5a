from web.models import Base

from microblog_common.migrations import run_env

run_env(Base.metadata)
